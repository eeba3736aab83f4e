module github.com/nlbprobe/nlbprobe

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/spf13/pflag v1.1.0 // indirect
	github.com/vishvananda/netlink v1.3.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)
