package e2e_test

import (
	"testing"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

type storeT = syncapi.Store

func stores() map[string]func(testing.TB) storeT { return synctest.Stores() }
