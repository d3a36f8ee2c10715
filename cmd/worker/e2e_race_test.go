//go:build race

package main_test

// raceBuild is true when the tests run with -race; the syncd and worker
// binaries under test are then built with -race too, so data races in them
// fail the test.
const raceBuild = true
