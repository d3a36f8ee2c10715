//go:build !race

package main_test

// raceBuild is true when the tests run with -race; see e2e_race_test.go.
const raceBuild = false
