// Package addr holds the link-layer address type nlbprobe keys its state
// by, and the address forms Windows Network Load Balancing derives from a
// cluster IP: the unicast, multicast and IGMP cluster MACs, the IGMP group,
// and the masked source MACs of unicast-mode nodes.
//
// Everything here is a pure function of its arguments and allocates nothing
// except the String methods.
package addr
