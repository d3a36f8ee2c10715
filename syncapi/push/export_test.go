package push

// APNsHosts returns the hosts an APNs notifier sends APNS and APNS_SANDBOX
// devices' notifications to.
func APNsHosts(n Notifier) (prod, sandbox string) {
	a := n.(*apnsNotifier)
	return a.prod.Host, a.sandbox.Host
}
