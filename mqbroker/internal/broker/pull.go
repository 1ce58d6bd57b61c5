package broker

import (
	"context"
	"errors"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/store"
)

// Pull sysFlag bits (Java PullSysFlag).
const (
	pullCommitOffset = 1 << 0
	pullSuspend      = 1 << 1
	pullSubscription = 1 << 2
)

// maxPullBytes bounds one pull response (Java maxTransferBytesOnMessageInMemory is 256 KiB;
// we allow more because bodies up to max-message-size must still be deliverable one at a time).
const maxPullBytes = 1 << 20

// handlePull serves PULL_MESSAGE, holding the request while the queue has
// nothing new (long polling) so that a message is delivered as soon as it
// is stored (PROTOCOL.md §2.7).
func (b *Broker) handlePull(ctx context.Context, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("consumerGroup")
	topic := f.String("topic")
	queueID := f.Int32("queueId")
	offset := f.Int64("queueOffset")
	maxMsgs := f.OptInt32("maxMsgNums", 32)
	sysFlag := f.OptInt32("sysFlag", 0)
	commitOffset := f.OptInt64("commitOffset", -1)
	suspend := time.Duration(f.OptInt64("suspendTimeoutMillis", 20000)) * time.Millisecond
	subString := f.OptString("subscription")
	exprType := f.OptString("expressionType")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	tc, ok, _ := b.topics.get(topic, false)
	if !ok {
		return errResponse(req, protocol.TopicNotExist, "topic %s does not exist", topic)
	}
	if queueID < 0 || queueID >= tc.ReadQueues {
		return errResponse(req, protocol.SystemError, "queueId %d out of range [0,%d) for topic %s", queueID, tc.ReadQueues, topic)
	}
	if offset < 0 {
		return errResponse(req, protocol.SystemError, "queueOffset %d is negative", offset)
	}
	if maxMsgs <= 0 || maxMsgs > 1024 {
		maxMsgs = 32
	}
	if sysFlag&pullCommitOffset != 0 {
		b.offsets.commit(offsetKey{group, topic, queueID}, commitOffset)
	}
	sub, refused := b.pullSubscription(req, group, topic, sysFlag&pullSubscription != 0, subString, exprType)
	if refused != nil {
		return refused
	}
	match := sub.match()

	hold := min(suspend, b.cfg.LongPollMax)
	if sysFlag&pullSuspend == 0 {
		hold = 0
	}
	var deadline <-chan time.Time
	rounds := 0
	for {
		wake := b.waiters.wait(queueKey{topic, queueID})
		res, err := b.store.Get(topic, queueID, offset, int(maxMsgs), maxPullBytes, match)
		if errors.Is(err, store.ErrRetained) {
			// Retention deleted the entries while Get read them (and again on its retries).
			res, err = store.GetResult{Status: store.OffsetTooSmall, MinOffset: b.store.MinOffset(topic, queueID)}, nil
		}
		if err == nil && res.Status == store.OffsetTooSmall {
			// Retention deleted what the consumer had not read yet: continue
			// at the new minimum right away (Apache RocketMQ answers
			// PULL_OFFSET_MOVED, after which the Go client pauses 10 s).
			b.log.Warn("consumer offset below the queue's min offset: continuing at the min",
				"topic", topic, "queue", queueID, "offset", offset, "min", res.MinOffset)
			b.metrics.movedToMin.Inc()
			offset = res.MinOffset
			res, err = b.store.Get(topic, queueID, offset, int(maxMsgs), maxPullBytes, match)
		}
		if err != nil {
			b.log.Error("pull", "topic", topic, "queue", queueID, "err", err)
			return errResponse(req, protocol.SystemError, "read store: %v", err)
		}
		if res.Status == store.Found && sub != nil && sub.sql != nil {
			res = filterRecords(res, sub.sql)
		}
		if res.Status == store.NoMatchedMessage {
			// Every entry read was filtered out: go on from past them. Before
			// any wait, the answer is Apache's NO_MATCHED_MESSAGE
			// (PULL_RETRY_IMMEDIATELY from the offset reached, so that the
			// consumer moves on at once); a held pull woken by messages that
			// do not match keeps waiting from past them.
			offset = res.NextBeginOffset
			if res.NextBeginOffset < res.MaxOffset {
				if rounds++; rounds < maxFilterRounds {
					continue
				}
				return pullResponse(req, res, offset)
			}
			if deadline == nil {
				return pullResponse(req, res, offset)
			}
			res.Status = store.OffsetOverflowOne
		}
		waitable := res.Status == store.OffsetOverflowOne || (res.Status == store.NoMessageInQueue && offset == 0)
		if !waitable || hold <= 0 {
			b.metrics.pulled(topic, res.Records)
			return pullResponse(req, res, offset)
		}
		if deadline == nil {
			t := time.NewTimer(hold)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-wake:
		case <-deadline:
			return pullResponse(req, res, offset)
		case <-ctx.Done():
			return nil
		}
	}
}

// pullResponse maps a store result to the pull response codes the client
// understands (Java PullMessageProcessor).
func pullResponse(req *remoting.Command, res store.GetResult, offset int64) *remoting.Command {
	code := protocol.Success
	next := res.NextBeginOffset
	switch res.Status {
	case store.Found:
	case store.NoMatchedMessage:
		code = protocol.PullRetryImmediately
	case store.NoMessageInQueue:
		if offset == 0 {
			code, next = protocol.PullNotFound, 0
		} else {
			code, next = protocol.PullOffsetMoved, 0
		}
	case store.OffsetOverflowOne:
		code, next = protocol.PullNotFound, offset
	case store.OffsetTooSmall:
		code, next = protocol.PullOffsetMoved, res.MinOffset
	case store.OffsetOverflowBadly:
		code, next = protocol.PullOffsetMoved, res.MaxOffset
	}
	resp := remoting.NewResponse(req, int16(code), "")
	resp.SetExtInt("nextBeginOffset", next)
	resp.SetExtInt("minOffset", res.MinOffset)
	resp.SetExtInt("maxOffset", res.MaxOffset)
	resp.SetExt("suggestWhichBrokerId", "0")
	if code == protocol.Success {
		n := 0
		for _, r := range res.Records {
			n += len(r)
		}
		body := make([]byte, 0, n)
		for _, r := range res.Records {
			body = append(body, r...)
		}
		resp.Body = body
	}
	return resp
}

// splitTags parses "A || B" into its tags.
func splitTags(sub string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(sub); i++ {
		if i == len(sub) || (sub[i] == '|' && i+1 < len(sub) && sub[i+1] == '|') {
			t := trimSpace(sub[start:i])
			if t != "" && t != "*" {
				out = append(out, t)
			}
			start = i + 2
			i++
		}
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
