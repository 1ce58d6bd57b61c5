package broker

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/acl"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
	"github.com/shopsaga/shopsaga/mqbroker/internal/txn"
)

// Transaction types of END_TRANSACTION's commitOrRollback.
const (
	txUnknown  = 0
	txCommit   = 8
	txRollback = 12
)

// Op records (topic RMQ_SYS_TRANS_OP_HALF_TOPIC) persist what happened to a
// half message; their PreparedTransactionOffset names the half's commit-log
// offset and their TAGS the kind. A commit needs no op record: the
// committed message itself carries the commit bit and the half's offset.
const (
	opRollback = "d" // decided: rolled back
	opChecked  = "k" // checked once more; body = checks so far
	opDiscard  = "x" // given up after the maximum number of checks
)

// pendingHalf is an undecided half message.
type pendingHalf struct {
	// phys is the half's id: the commit-log offset it was first stored at,
	// which producers answer with and op records name. at is where it is
	// stored now (they differ once retention carried it forward).
	phys, queueOffset int64
	at                int64
	group             string
	uniqKey           string
	realTopic         string
	stored            time.Time
	immunity          time.Duration
	checks            int
	lastCheck         time.Time
	deciding          bool // claimed: its decision is being stored
}

// txnService tracks undecided half messages, applies END_TRANSACTION
// decisions and checks back with producers. All its state is derived from
// the commit log (half records, op records, committed messages), so pending
// halves and decisions survive a restart.
type txnService struct {
	b    *Broker
	cfg  txn.Config
	kick chan struct{}

	mu      sync.Mutex             // guards pending, carried
	pending map[int64]*pendingHalf // by id (pendingHalf.phys)
	carried int64                  // halves carried forward by retention since start
}

func newTxnService(b *Broker) *txnService {
	return &txnService{b: b, kick: make(chan struct{}, 1), pending: make(map[int64]*pendingHalf),
		cfg: txn.Config{Timeout: b.cfg.TxTimeout, Interval: b.cfg.TxCheckInterval, MaxChecks: b.cfg.TxCheckMax}}
}

func newPendingHalf(m *message.Message) *pendingHalf {
	p := &pendingHalf{phys: m.PhysicalOffset, at: m.PhysicalOffset, queueOffset: m.QueueOffset,
		group: m.Properties[message.PropProducerGroup], uniqKey: m.UniqKey(),
		realTopic: m.Properties[message.PropRealTopic], stored: time.UnixMilli(m.StoreTimestamp)}
	if s, err := strconv.Atoi(m.Properties[message.PropCheckImmunityTimeInSeconds]); err == nil && s > 0 {
		p.immunity = time.Duration(s) * time.Second
	}
	return p
}

// recoverRecord replays one commit-log record into the pending table.
func (t *txnService) recoverRecord(m *message.Message) {
	switch {
	case m.Topic == halfTopic:
		if !t.recoverCarried(m) {
			t.pending[m.PhysicalOffset] = newPendingHalf(m)
		}
	case m.Topic == opTopic:
		p := t.pending[m.PreparedTransactionOffset]
		if p == nil {
			return
		}
		switch m.Tags() {
		case opRollback, opDiscard:
			delete(t.pending, p.phys)
		case opChecked:
			if n, err := strconv.Atoi(string(m.Body)); err == nil {
				p.checks = n
			}
			p.lastCheck = time.UnixMilli(m.StoreTimestamp)
		}
	case m.SysFlag&message.SysFlagTransactionMask == message.SysFlagTransactionCommit:
		delete(t.pending, m.PreparedTransactionOffset)
	}
}

func (t *txnService) pendingCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// added registers a half message just stored by a send.
func (t *txnService) added(m *message.Message) {
	t.mu.Lock()
	t.pending[m.PhysicalOffset] = newPendingHalf(m)
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *txnService) onAppend(string) {}

// claim reserves an undecided half for a decision after validating it
// (Java EndTransactionProcessor.checkPrepareMessage). The half stays in the
// table, marked deciding, until the decision is stored (decided) or not
// (unclaim): whoever sees it gone knows its decision is in the log.
func (t *txnService) claim(phys, queueOffset int64, group string) (*pendingHalf, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[phys]
	switch {
	case p == nil:
		return nil, fmt.Errorf("no undecided half message at commit-log offset %d (already decided, or never stored)", phys)
	case p.deciding:
		return nil, fmt.Errorf("half message at %d is being decided", phys)
	case p.group != group:
		return nil, fmt.Errorf("half message at %d belongs to producer group %q, not %q", phys, p.group, group)
	case p.queueOffset != queueOffset:
		return nil, fmt.Errorf("half message at %d has tranStateTableOffset %d, not %d", phys, p.queueOffset, queueOffset)
	}
	p.deciding = true
	return p, nil
}

// decided removes a claimed half whose decision is stored.
func (t *txnService) decided(p *pendingHalf) {
	t.mu.Lock()
	delete(t.pending, p.phys)
	t.mu.Unlock()
}

// unclaim returns a claimed half to the undecided ones.
func (t *txnService) unclaim(p *pendingHalf) {
	t.mu.Lock()
	p.deciding = false
	t.mu.Unlock()
}

func (b *Broker) handleEndTransaction(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	f := protocol.FieldsOf(req)
	group := f.String("producerGroup")
	queueOffset := f.Int64("tranStateTableOffset")
	phys := f.Int64("commitLogOffset")
	typ := f.Int32("commitOrRollback")
	fromCheck := f.OptBool("fromTransactionCheck")
	if err := f.Err(); err != nil {
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	switch typ {
	case txUnknown:
		b.log.Debug("transaction state unknown; waiting for check-back", "offset", phys, "from_check", fromCheck)
		return okResponse(req)
	case txCommit, txRollback:
	default:
		return errResponse(req, protocol.SystemError, "commitOrRollback %d: want 0, 8 or 12", typ)
	}
	p, err := b.txn.claim(phys, queueOffset, group)
	if err != nil {
		b.log.Warn("end transaction ignored", "err", err, "from_check", fromCheck)
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	// Only an account that may publish to the half's topic decides it
	// (ACL, acl.Resources): checked once the half is known, before the
	// decision is applied.
	if resp := b.permitResolved(c, req, acl.Resource{Name: p.realTopic, Perm: acl.Pub}); resp != nil {
		b.txn.unclaim(p)
		return resp
	}
	b.stateMu.RLock()
	if err := b.decide(p, typ == txCommit); err != nil {
		b.txn.unclaim(p)
		b.stateMu.RUnlock()
		b.log.Error("end transaction", "offset", phys, "err", err)
		return errResponse(req, protocol.SystemError, "%v", err)
	}
	b.txn.decided(p)
	b.stateMu.RUnlock()
	b.log.Debug("transaction decided", "offset", phys, "commit", typ == txCommit, "from_check", fromCheck)
	return okResponse(req)
}

// decide stores a decision for a claimed half message: commit writes the
// real message (through the scheduler if it has a delay level), rollback an
// op record.
func (b *Broker) decide(p *pendingHalf, commit bool) error {
	if !commit {
		return b.putOp(p, opRollback, strconv.FormatInt(p.queueOffset, 10))
	}
	half, err := b.store.Read(p.at)
	if err != nil {
		return fmt.Errorf("read half message: %w", err)
	}
	out := b.realMessage(half)
	delete(out.Properties, message.PropTransactionPrepared)
	delete(out.Properties, message.PropRealTopic)
	delete(out.Properties, message.PropRealQueueID)
	out.SysFlag = out.SysFlag&^message.SysFlagTransactionMask | message.SysFlagTransactionCommit
	out.PreparedTransactionOffset = p.phys
	if lvl, err := strconv.Atoi(out.Properties[message.PropDelayTimeLevel]); err == nil && lvl > 0 {
		b.toSchedule(out, lvl)
	}
	if _, err := b.store.Put(out); err != nil {
		return fmt.Errorf("store committed message: %w", err)
	}
	return nil
}

func (b *Broker) putOp(p *pendingHalf, kind, body string) error {
	op := &message.Message{Topic: opTopic, QueueID: 0, BornTimestamp: b.clock.Now().UnixMilli(),
		BornHost: b.storeHost, StoreHost: b.storeHost, PreparedTransactionOffset: p.phys,
		Body: []byte(body), Properties: map[string]string{message.PropTags: kind}}
	if _, err := b.store.Put(op); err != nil {
		return fmt.Errorf("store op record: %w", err)
	}
	return nil
}

// run checks back undecided half messages when txn.Decide says so.
func (t *txnService) run(stop <-chan struct{}) {
	clk := t.b.cfg.Clock
	for {
		next := t.checkDue(clk.Now())
		tm := clk.NewTimer(next.Sub(clk.Now()))
		select {
		case <-stop:
			tm.Stop()
			return
		case <-t.kick:
			tm.Stop()
		case <-tm.C():
		}
	}
}

// noProducerRetry is how soon a check is retried when no producer of the
// group is connected (such attempts do not count as checks).
const noProducerRetry = time.Second

// checkDue acts on every half that is due and returns when to look again.
func (t *txnService) checkDue(now time.Time) time.Time {
	next := now.Add(t.cfg.Interval)
	t.mu.Lock()
	due := make([]*pendingHalf, 0)
	for _, p := range t.pending {
		if p.deciding {
			continue
		}
		d := txn.Decide(txn.Half{Stored: p.stored, Immunity: p.immunity, Checks: p.checks, LastCheck: p.lastCheck}, now, t.cfg)
		if d.Action == txn.Wait {
			if d.At.Before(next) {
				next = d.At
			}
			continue
		}
		due = append(due, p)
	}
	t.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].phys < due[j].phys })
	for _, p := range due {
		retry := t.act(p, now)
		if !retry.IsZero() && retry.Before(next) {
			next = retry
		}
	}
	return next
}

// act checks or discards one due half; it returns a retry time if it could not.
func (t *txnService) act(p *pendingHalf, now time.Time) time.Time {
	b := t.b
	// at moves when retention carries the half forward (carry, under t.mu):
	// snapshot what may change under the lock (review finding 9).
	t.mu.Lock()
	at, checksSoFar := p.at, p.checks
	t.mu.Unlock()
	if checksSoFar >= t.cfg.MaxChecks {
		got, err := t.claim(p.phys, p.queueOffset, p.group)
		if err != nil {
			return time.Time{} // decided meanwhile
		}
		b.stateMu.RLock()
		if err := b.putOp(got, opDiscard, strconv.Itoa(got.checks)); err != nil {
			t.unclaim(got)
			b.stateMu.RUnlock()
			b.log.Error("discard half message", "offset", p.phys, "err", err)
			return now.Add(noProducerRetry)
		}
		t.decided(got)
		b.stateMu.RUnlock()
		b.log.Warn("half message discarded after the maximum number of checks",
			"offset", p.phys, "group", p.group, "topic", p.realTopic, "msg_id", p.uniqKey, "checks", got.checks)
		return time.Time{}
	}
	conn, ok := b.clients.producerConn(p.group, b.checkBackAllowed(p))
	if !ok {
		return now.Add(noProducerRetry)
	}
	half, err := b.store.Read(at)
	if err != nil {
		b.log.Error("read half message for check", "offset", p.phys, "err", err)
		return now.Add(noProducerRetry)
	}
	checks := checksSoFar + 1
	// The body is the message as its producer sent it, so the listener sees
	// its real topic; UNIQ_KEY and __transactionId__ must be there because
	// v2.1.2 mis-decodes the header's ids (PROTOCOL.md §2.3.3).
	body := half.Clone()
	deleteCarried(body)
	body.Topic = p.realTopic
	q, _ := strconv.Atoi(half.Properties[message.PropRealQueueID])
	body.QueueID = int32(q)
	body.SetProperty(message.PropTransactionCheckTimes, strconv.Itoa(checks))
	if body.Properties[message.PropTransactionID] == "" && p.uniqKey != "" {
		body.SetProperty(message.PropTransactionID, p.uniqKey)
	}
	ext := map[string]string{
		"tranStateTableOffset": strconv.FormatInt(p.queueOffset, 10),
		"commitLogOffset":      strconv.FormatInt(p.phys, 10),
		"msgId":                p.uniqKey,
		"transactionId":        p.uniqKey,
		"offsetMsgId":          message.OffsetMsgID(b.storeHost, p.phys),
		"topic":                p.realTopic,
		"brokerName":           b.cfg.BrokerName,
	}
	b.stateMu.RLock()
	if err := b.putOp(p, opChecked, strconv.Itoa(checks)); err != nil {
		b.stateMu.RUnlock()
		b.log.Error("record check", "offset", p.phys, "err", err)
		return now.Add(noProducerRetry)
	}
	t.mu.Lock()
	if cur := t.pending[p.phys]; cur == p {
		p.checks, p.lastCheck = checks, now
	}
	t.mu.Unlock()
	b.stateMu.RUnlock()
	// Asynchronous for the same reason as notifyChanged: one producer that
	// stopped reading must not stall every other check.
	frame := body.Encode()
	go func() {
		if err := conn.SendOneway(int16(protocol.CheckTransactionState), ext, frame); err != nil {
			b.log.Warn("send check-back", "offset", p.phys, "group", p.group, "err", err)
		}
	}()
	b.log.Info("checked back half message", "offset", p.phys, "group", p.group, "msg_id", p.uniqKey, "check", checks)
	return time.Time{}
}

// HalfStat describes an undecided half message (admin API).
type HalfStat struct {
	CommitLogOffset int64     `json:"commitLogOffset"`
	Group           string    `json:"producerGroup"`
	Topic           string    `json:"topic"`
	MsgID           string    `json:"msgId"`
	StoredAt        time.Time `json:"storedAt"`
	Checks          int       `json:"checks"`
	// StoredAtOffset is where the half is stored now: CommitLogOffset (its id)
	// unless retention carried it forward.
	StoredAtOffset int64 `json:"storedAtOffset"`
}

func (t *txnService) stats() []HalfStat {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]HalfStat, 0, len(t.pending))
	for _, p := range t.pending {
		out = append(out, HalfStat{p.phys, p.group, p.realTopic, p.uniqKey, p.stored, p.checks, p.at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CommitLogOffset < out[j].CommitLogOffset })
	return out
}
