// Package syncapi is the Amazon Cognito Sync API without a wire: its shapes,
// its rules and the ports its adapters implement. It imports only the
// standard library.
//
//   - SyncAPI (api.go) lists the 17 Cognito Sync operations. *Service
//     implements it on the server (service.go, pool_ops.go, trigger.go) and
//     syncapi/client against any endpoint, syncd or AWS. The caller comes
//     from the context (WithCaller, caller.go) and every operation
//     authorizes it: developer-only and identity-only operations, and each
//     identity only its own data.
//   - Service applies the sync rules: SyncCounts and conflicts, sync
//     session tokens (tokens.go), limits and validation (validate.go),
//     the SyncTrigger (trigger.go) and the Cognito Identity calls SDK
//     credential providers make (identity.go, identity_shapes.go).
//   - Store (store.go) is the storage port, with optional capabilities such
//     as the Cognito Streams outbox; syncapi/sqlstore implements it on
//     SQLite and PostgreSQL and syncapi/storetest checks any
//     implementation. TriggerInvoker and BulkRunner are the ports of the
//     SyncTrigger and of bulk publish jobs.
//   - errors.go holds the domain errors (ErrNotFound, ErrConflict, …,
//     *ValidationError); syncapi/httpapi maps them to AWS error codes, the
//     only place that knows those.
//
// Time (time.go) is a timestamp as the APIs carry it: epoch seconds with
// millisecond precision. The behaviour of every operation follows the
// project's Cognito Sync specification; comments cite its sections (A.2,
// D.3, E.5, …).
package syncapi
