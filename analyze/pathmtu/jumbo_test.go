package pathmtu

import "testing"

func TestJumboPacket(t *testing.T) {
	tests := []struct {
		mtu     int
		setting int
		ok      bool
	}{
		{1500, 1514, true},   // jumbo off: the setting's minimum
		{4074, 4088, true},   // a 4K setting
		{9000, 9014, true},   // the common jumbo setting
		{16114, 16128, true}, // the largest setting drivers offer
		{1400, 1414, false},  // below Ethernet's MTU: set as the IP MTU on Windows
		{1280, 1294, false},  // the IPv6 floor
		{16115, 16129, false},
		{65535, 65549, false}, // the largest IPv4 packet over loopback
		{65536, 65550, false}, // loopback's MTU
	}
	for _, tt := range tests {
		setting, ok := JumboPacket(tt.mtu)
		if setting != tt.setting || ok != tt.ok {
			t.Errorf("JumboPacket(%d) = %d, %v; want %d, %v", tt.mtu, setting, ok, tt.setting, tt.ok)
		}
	}
}
