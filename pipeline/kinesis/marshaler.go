package kinesis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// Marshaler turns a Watermill message into a record's data and a record
// back into a message. The Subscriber adds the stream.Metadata* keys
// itself.
type Marshaler interface {
	Marshal(topic string, msg *message.Message) ([]byte, error)
	Unmarshal(shardID string, r types.Record) (*message.Message, error)
}

// DefaultMarshaler writes the message UUID, metadata and payload in a small
// binary envelope. On reading, data that is not such an envelope (for
// example the JSON records AWS Cognito writes to a Cognito stream) becomes
// the payload of a message whose UUID is derived from shard and sequence
// number, so one subscriber reads both.
type DefaultMarshaler struct{}

// envelopeMagic starts every envelope. It begins with a NUL byte, which no
// JSON or text record starts with.
var envelopeMagic = []byte{0x00, 'w', 'm', 0x01}

// Marshal implements Marshaler.
func (DefaultMarshaler) Marshal(_ string, msg *message.Message) ([]byte, error) {
	n := len(envelopeMagic) + binary.MaxVarintLen64*(2+2*len(msg.Metadata)) + len(msg.UUID) + len(msg.Payload)
	for k, v := range msg.Metadata {
		n += len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeMagic...)
	b = appendString(b, msg.UUID)
	b = binary.AppendUvarint(b, uint64(len(msg.Metadata)))
	for k, v := range msg.Metadata {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return append(b, msg.Payload...), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadEnvelope = errors.New("bad envelope")

// Unmarshal implements Marshaler. It never fails: a damaged envelope is
// delivered raw, like any foreign record.
func (DefaultMarshaler) Unmarshal(shardID string, r types.Record) (*message.Message, error) {
	if msg, err := decodeEnvelope(r.Data); err == nil {
		return msg, nil
	}
	return RawMarshaler{}.Unmarshal(shardID, r)
}

func decodeEnvelope(data []byte) (*message.Message, error) {
	if !bytes.HasPrefix(data, envelopeMagic) {
		return nil, errBadEnvelope
	}
	b := data[len(envelopeMagic):]
	next := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", false
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, true
	}
	uuid, ok := next()
	if !ok {
		return nil, errBadEnvelope
	}
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return nil, errBadEnvelope
	}
	b = b[n:]
	md := make(message.Metadata, cnt+5)
	for range cnt {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errBadEnvelope
		}
		md[k] = v
	}
	msg := message.NewMessage(uuid, bytes.Clone(b))
	msg.Metadata = md
	return msg, nil
}

// RawMarshaler publishes the payload as the record's data, dropping UUID
// and metadata (except the partition key, which the Publisher reads), and
// reads records as raw payloads with UUID "<shard>/<sequence number>".
type RawMarshaler struct{}

// Marshal implements Marshaler.
func (RawMarshaler) Marshal(_ string, msg *message.Message) ([]byte, error) { return msg.Payload, nil }

// Unmarshal implements Marshaler.
func (RawMarshaler) Unmarshal(shardID string, r types.Record) (*message.Message, error) {
	seq := ""
	if r.SequenceNumber != nil {
		seq = *r.SequenceNumber
	}
	msg := message.NewMessage(shardID+"/"+seq, r.Data)
	msg.Metadata = make(message.Metadata, 5)
	return msg, nil
}

func setRecordMetadata(msg *message.Message, shardID string, r types.Record, behind *int64) {
	if msg.Metadata == nil {
		msg.Metadata = make(message.Metadata, 5)
	}
	msg.Metadata[stream.MetadataShardID] = shardID
	if r.SequenceNumber != nil {
		msg.Metadata[stream.MetadataSequenceNumber] = *r.SequenceNumber
	}
	if r.PartitionKey != nil {
		msg.Metadata[stream.MetadataPartitionKey] = *r.PartitionKey
	}
	if r.ApproximateArrivalTimestamp != nil {
		msg.Metadata[stream.MetadataArrivalTime] = stream.FormatArrivalTime(*r.ApproximateArrivalTimestamp)
	}
	if behind != nil {
		msg.Metadata[stream.MetadataMillisBehindLatest] = strconv.FormatInt(*behind, 10)
	}
}
