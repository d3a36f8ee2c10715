//go:build race

package e2e_test

// memIdentities is how many identities TestMemory_BoundedByConfigurationNotByIdentities
// syncs under the race detector, which makes each about ten times slower;
// the heap is measured exactly either way, and the limit is per identity.
const memIdentities = 5_000
