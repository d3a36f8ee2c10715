//go:build !race

package e2e_test

// memIdentities is how many identities TestMemory_BoundedByConfigurationNotByIdentities
// syncs: the figure.
const memIdentities = 50_000
