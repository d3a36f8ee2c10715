package main

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cognitosync/cognitosync/internal/awsenv"
	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
)

// Stream modes (--stream).
const (
	streamKinesis = "kinesis" // forwarder + bulk publish to Kinesis (AWS or --kinesis-endpoint)
	streamNone    = "none"    // no forwarder: outbox rows wait for a syncd that streams
)

// newStream returns where syncd's outbox forwarder and bulk runner publish
// for --stream: Kinesis publishers (and the S3 offloader of --s3-bucket), or
// nil for "none".
func newStream(c Config, cfg aws.Config, log *slog.Logger) (*server.Stream, error) {
	if c.Stream == streamNone {
		log.Info("streaming off: changes of streaming pools stay in the outbox until a syncd with a stream runs; " +
			"set --stream kinesis (AWS) or --kinesis-endpoint to publish them")
		return nil, nil
	}
	if c.KinesisEndpoint != "" || c.S3Endpoint != "" {
		cfg.Credentials = awsenv.WithPlaceholder(cfg.Credentials, "syncd") // local emulators accept any key
	}
	kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		if c.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KinesisEndpoint)
		}
	})
	pub, err := kinesis.NewPublisher(kinesis.PublisherConfig{Client: kc, Marshaler: kinesis.RawMarshaler{}},
		watermill.NewSlogLogger(log))
	if err != nil {
		return nil, err
	}
	// A bulk publish sends one record per dataset and promises no order
	// between them (spec D.3), so it may fill each PutRecords with many
	// records of one identity; the forwarder keeps per-identity order.
	bulkPub, err := kinesis.NewPublisher(kinesis.PublisherConfig{Client: kc, Marshaler: kinesis.RawMarshaler{}, Unordered: true},
		watermill.NewSlogLogger(log))
	if err != nil {
		return nil, err
	}
	st := &server.Stream{Publisher: pub, Bulk: bulkPub}
	if c.S3Bucket != "" {
		sc := s3.NewFromConfig(cfg, func(o *s3.Options) {
			if c.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(c.S3Endpoint)
				o.UsePathStyle = true
			}
		})
		if st.Offload, err = outbox.NewS3Offloader(outbox.S3Config{Client: sc, Bucket: c.S3Bucket}); err != nil {
			return nil, err
		}
	}
	log.Info("streaming to Kinesis", "kinesis_endpoint", c.KinesisEndpoint, "s3_bucket", c.S3Bucket)
	return st, nil
}
