// Package sinks holds one package per destination of the worker, each
// implementing pipeline.Sink and stating its durability, idempotency and
// ordering guarantees in its package comment:
//
//   - jsonl: append-only JSON Lines files with rotation;
//   - postgres: current state per record plus an optional change log;
//   - webhook: batched, HMAC-signed JSON POSTs with retries;
//   - watermill: any Watermill message.Publisher (NATS JetStream, RabbitMQ, …).
//
// Each package also owns the sink's entry in the worker's configuration
// file: a Spec (pipeline.SinkSpec: yaml fields, defaults, Validate, Build)
// and a pipeline.SinkType that decodes it (watermill: NATSSpec and
// NATSType, type nats). The worker lists the types it offers in one table
// (cmd/worker/sinks.go); adding a sink is a package and a line there.
//
// changejson is the JSON form of a change that the jsonl, webhook and
// watermill sinks write, so a reader of one can read the others.
package sinks
