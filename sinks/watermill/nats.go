package watermill

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/nats-io/nats.go"

	"github.com/cognitosync/cognitosync/pipeline"
)

// NATSSpec is the entry of a sink that publishes to NATS JetStream in the
// worker's configuration file:
//
//	{name: bus, type: nats, url: "nats://127.0.0.1:4222", topic: cognitosync_changes}
//
// Each change becomes one JetStream message as the package comment
// describes, sent with its UUID as Nats-Msg-Id, so JetStream drops a replay
// that arrives within the stream's duplicate window (2 min by default).
// Write returns once JetStream has stored every message of the batch.
type NATSSpec struct {
	// URL is the NATS server, or several separated by commas; credentials
	// may be in it (nats://user:password@host:4222). Required.
	URL string `yaml:"url"`
	// URLEnv names an environment variable that holds URL instead, to keep
	// credentials out of the file; it wins over URL.
	URLEnv string `yaml:"url_env,omitempty"`
	// CredentialsFile is a NATS .creds file (JWT and NKey) to authenticate
	// with; "": none.
	CredentialsFile string `yaml:"credentials_file,omitempty"`
	// Topic is where the changes go. With AutoProvision it names both the
	// JetStream stream (created if missing) and its subject, so it may hold
	// only letters, digits, '_' and '-'; without, it is the subject, which a
	// stream the operator created must cover. Required.
	Topic string `yaml:"topic"`
	// AutoProvision creates the stream Topic when it does not exist. nil:
	// true.
	AutoProvision *bool `yaml:"auto_provision,omitempty"`
}

// NATSType is the NATS JetStream sink's entry in the worker's table of sink
// types.
var NATSType = pipeline.SinkType{Name: "nats", Decode: func(unmarshal func(any) error) (pipeline.SinkSpec, error) {
	return pipeline.DecodeSpec(unmarshal, NATSSpec{})
}}

var _ pipeline.SinkSpec = NATSSpec{}

// streamName is what JetStream accepts as a stream name, and so as a Topic
// with AutoProvision.
var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

func (s NATSSpec) autoProvision() bool { return s.AutoProvision == nil || *s.AutoProvision }

func (s NATSSpec) url(deps pipeline.SinkDeps) string {
	if s.URLEnv != "" {
		return deps.Env(s.URLEnv)
	}
	return s.URL
}

// Validate reports a missing URL or topic, and a topic that cannot name a
// stream when the sink creates it.
func (s NATSSpec) Validate(deps pipeline.SinkDeps) error {
	var errs []error
	switch {
	case s.URLEnv != "" && s.url(deps) == "":
		errs = append(errs, fmt.Errorf("nats sink: url_env: the environment variable %s is empty or unset", s.URLEnv))
	case s.url(deps) == "":
		errs = append(errs, errors.New("nats sink: url is required, e.g. nats://127.0.0.1:4222"))
	}
	switch {
	case s.Topic == "":
		errs = append(errs, errors.New("nats sink: topic is required"))
	case s.autoProvision() && !streamName.MatchString(s.Topic):
		errs = append(errs, fmt.Errorf("nats sink: topic %q names the stream the sink creates (auto_provision), so it may hold only letters, digits, '_' and '-'", s.Topic))
	case strings.ContainsAny(s.Topic, " \t\r\n*>"):
		errs = append(errs, fmt.Errorf("nats sink: topic %q is not a NATS subject one can publish to", s.Topic))
	}
	return errors.Join(errs...)
}

// Build connects to NATS and returns a Sink that owns the connection.
func (s NATSSpec) Build(_ context.Context, deps pipeline.SinkDeps) (pipeline.Sink, error) {
	if err := s.Validate(deps); err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name("cognitosync sink " + deps.Name)}
	if s.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(s.CredentialsFile))
	}
	var log watermill.LoggerAdapter = watermill.NopLogger{}
	if deps.Log != nil {
		log = watermill.NewSlogLogger(deps.Log.With("sink", deps.Name))
	}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{
		URL:         s.url(deps),
		NatsOptions: opts,
		JetStream:   wmnats.JetStreamConfig{AutoProvision: s.autoProvision(), TrackMsgId: true},
	}, log)
	if err != nil {
		return nil, fmt.Errorf("nats sink: %w", err)
	}
	sink, err := New(Config{Publisher: pub, Topic: s.Topic, ClosePublisher: true, Name: deps.Name, Registerer: deps.Registerer})
	if err != nil {
		pub.Close()
		return nil, err
	}
	return sink, nil
}
