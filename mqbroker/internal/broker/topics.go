package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
	"github.com/shopsaga/shopsaga/mqbroker/internal/namesrv"
)

// System topics (names as in Apache RocketMQ).
const (
	defaultTopic   = "TBW102"
	halfTopic      = "RMQ_SYS_TRANS_HALF_TOPIC"
	opTopic        = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	retryPrefix    = "%RETRY%"
	dlqPrefix      = "%DLQ%"
	permReadWrite  = namesrv.PermRead | namesrv.PermWrite
	topicsFileName = "topics.json"
)

var validTopic = regexp.MustCompile(`^[%|a-zA-Z0-9_-]+$`)

// errBadTopic wraps every topic-name validation error.
var errBadTopic = errors.New("bad topic name")

// checkTopicName reports why a topic name is unacceptable, or nil.
func checkTopicName(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("topic is empty")
	case len(t) > message.MaxTopicLen:
		return fmt.Errorf("topic %.20q... longer than %d bytes", t, message.MaxTopicLen)
	case !validTopic.MatchString(t):
		return fmt.Errorf("topic %q has characters outside [%%|a-zA-Z0-9_-]", t)
	}
	return nil
}

// topicConfig is one topic's queue layout.
type topicConfig struct {
	Name        string `json:"name"`
	ReadQueues  int32  `json:"readQueues"`
	WriteQueues int32  `json:"writeQueues"`
	Perm        int32  `json:"perm"`
}

// topicTable holds topic configs, creating them on first use and persisting
// them to <dir>/topics.json (written whole, via rename).
type topicTable struct {
	path          string
	defaultQueues int32
	delayLevels   int32

	mu     sync.Mutex // guards topics and the file
	topics map[string]topicConfig
}

func loadTopics(dir string, defaultQueues, delayLevels int) (*topicTable, error) {
	t := &topicTable{path: filepath.Join(dir, topicsFileName), defaultQueues: int32(defaultQueues),
		delayLevels: int32(delayLevels), topics: make(map[string]topicConfig)}
	b, err := os.ReadFile(t.path)
	switch {
	case err == nil:
		var list []topicConfig
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.path, err)
		}
		for _, c := range list {
			t.topics[c.Name] = c
		}
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("read topics: %w", err)
	}
	// System topics always exist with their fixed layout.
	t.topics[defaultTopic] = topicConfig{defaultTopic, t.defaultQueues, t.defaultQueues, permReadWrite | namesrv.PermInherit}
	t.topics[delay.ScheduleTopic] = topicConfig{delay.ScheduleTopic, t.delayLevels, t.delayLevels, permReadWrite}
	t.topics[halfTopic] = topicConfig{halfTopic, 1, 1, permReadWrite}
	t.topics[opTopic] = topicConfig{opTopic, 1, 1, permReadWrite}
	return t, t.saveLocked()
}

// queuesFor is the layout a new topic gets.
func (t *topicTable) queuesFor(name string) int32 {
	if strings.HasPrefix(name, retryPrefix) || strings.HasPrefix(name, dlqPrefix) {
		return 1
	}
	return t.defaultQueues
}

// get returns a topic, creating it when create is set.
func (t *topicTable) get(name string, create bool) (topicConfig, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.topics[name]; ok {
		return c, true, nil
	}
	if !create {
		return topicConfig{}, false, nil
	}
	if err := checkTopicName(name); err != nil {
		return topicConfig{}, false, fmt.Errorf("%w: %v", errBadTopic, err)
	}
	n := t.queuesFor(name)
	c := topicConfig{Name: name, ReadQueues: n, WriteQueues: n, Perm: permReadWrite}
	t.topics[name] = c
	if err := t.saveLocked(); err != nil {
		delete(t.topics, name)
		return topicConfig{}, false, err
	}
	return c, true, nil
}

// existsNow reports whether a topic exists, without waiting: false while
// another goroutine holds the table (a topic being created or the table
// saved, which fsyncs). For Broker.Inline.
func (t *topicTable) existsNow(name string) bool {
	if !t.mu.TryLock() {
		return false
	}
	_, ok := t.topics[name]
	t.mu.Unlock()
	return ok
}

func (t *topicTable) names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.topics))
	for n := range t.topics {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (t *topicTable) saveLocked() error {
	list := make([]topicConfig, 0, len(t.topics))
	for _, c := range t.topics {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	b, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(t.path, b)
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
