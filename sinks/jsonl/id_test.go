package jsonl_test

import (
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

func idOf(c pipeline.Change) string { return changejson.IdempotencyKey(c.ID()) }
