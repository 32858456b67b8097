package stream

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TimersStore is the reserved name of the internal store that holds each task's timers
// and watermark. A Topology must not declare a store of this name.
const TimersStore = "timers"

// DLQSuffix is appended to an input topic's name to form its dead-letter topic.
const DLQSuffix = ".dlq"

// Headers the runtime puts on a dead-letter record, next to the original key and value.
const (
	HeaderError     = "weir.error"
	HeaderTopic     = "weir.source.topic"
	HeaderPartition = "weir.source.partition"
	HeaderOffset    = "weir.source.offset"
	HeaderTimestamp = "weir.source.timestamp" // the source record's timestamp, Unix milliseconds
	HeaderApp       = "weir.app"
)

// Topology declares a processor: what it reads, writes and keeps.
type Topology struct {
	// App names the processor. It is the consumer group id, the prefix of its changelog
	// topics and part of its transactional id. Required.
	App string
	// Inputs are the topics read. They must have the same number of partitions: task N
	// processes partition N of every input. Required.
	Inputs []string
	// Outputs are the topics the Handler may Emit to. Emitting to another topic is an
	// error that sends the record to the DLQ.
	Outputs []string
	// Stores names the state stores the Handler may open with Context.Store.
	Stores []string
	// EventTime extracts a record's event time. Default: the record's Kafka timestamp.
	// An error sends the record to the DLQ.
	EventTime func(*kgo.Record) (time.Time, error)
	// Handler processes records and timers. Required.
	Handler Handler
}

// Handler is a processor's logic. A Runtime calls it from one goroutine per task at a
// time, so an implementation needs no locking for per-task state, but calls for
// different tasks may run concurrently.
type Handler interface {
	// Process handles one input record. A returned error (or a panic) sends the record
	// to its topic's DLQ and discards everything this call wrote or emitted.
	Process(ctx *Context, rec *kgo.Record) error
	// OnTimer handles a timer set with Context.Schedule, once the task's watermark has
	// reached at. A returned error sends a record describing the timer to the DLQ of the
	// first input and discards what the call wrote.
	OnTimer(ctx *Context, at time.Time, key []byte) error
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,200}$`)

// Validate reports what is missing or malformed in t.
func (t Topology) Validate() error {
	var errs []error
	if !topicName.MatchString(t.App) {
		errs = append(errs, fmt.Errorf("app %q: want 1-200 characters of [a-zA-Z0-9._-]", t.App))
	}
	if len(t.Inputs) == 0 {
		errs = append(errs, errors.New("no input topics"))
	}
	if t.Handler == nil {
		errs = append(errs, errors.New("no handler"))
	}
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, t.Inputs...), t.Outputs...) {
		if !topicName.MatchString(name) {
			errs = append(errs, fmt.Errorf("topic %q: not a valid topic name", name))
		}
	}
	for _, s := range t.Stores {
		switch {
		case s == TimersStore:
			errs = append(errs, fmt.Errorf("store %q: name is reserved", s))
		case !topicName.MatchString(s):
			errs = append(errs, fmt.Errorf("store %q: want characters of [a-zA-Z0-9._-]", s))
		case seen[s]:
			errs = append(errs, fmt.Errorf("store %q declared twice", s))
		}
		seen[s] = true
	}
	return errors.Join(errs...)
}

// ChangelogTopic returns the changelog topic of store in app.
func ChangelogTopic(app, store string) string { return app + "." + store + ".changelog" }

// DLQTopic returns the dead-letter topic of an input topic.
func DLQTopic(topic string) string { return topic + DLQSuffix }

func (t Topology) allStores() []string {
	return append(append([]string{}, t.Stores...), TimersStore)
}
