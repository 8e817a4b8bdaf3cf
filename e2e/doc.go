// Package e2e tests the real imagebuilder binary: crash recovery, shutdown and, with playwright-go, the portal in a real Chromium.
package e2e
