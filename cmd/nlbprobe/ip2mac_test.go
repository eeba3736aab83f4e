package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestIP2MAC(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"ip2mac", "172.31.3.232"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"02-BF-AC-1F-03-E8", "03-BF-AC-1F-03-E8", "01-00-5E-7F-03-E8", "239.255.3.232",
		"02bf.ac1f.03e8", "03:bf:ac:1f:03:e8", "02-PP-AC-1F-03-E8", "02-01-AC-1F-03-E8",
		// The commands, with the placeholders remedies use (analyze/remedy).
		"arp 172.31.3.232 03bf.ac1f.03e8 ARPA\n",
		"mac address-table static 03bf.ac1f.03e8 vlan <vlan> interface <switch ports>\n",
		"bridge mdb add dev <bridge> port <bridge port> grp 01:00:5e:7f:03:e8 permanent\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

func TestIP2MACJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ip2mac", "--json", "10.0.0.50", "192.168.100.80"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got []clusterAddresses
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Unicast.Colon != "02:bf:c0:a8:64:50" || got[1].IGMP.Cisco != "0100.5e7f.6450" ||
		got[0].IGMPGroup.String() != "239.255.0.50" || got[0].Masked.Hosts[1] != "02-02-0A-00-00-32" {
		t.Fatalf("json %+v", got)
	}
}

func TestIP2MACErrors(t *testing.T) {
	for _, args := range [][]string{{"ip2mac"}, {"ip2mac", "2001:db8::1"}, {"ip2mac", "not-an-ip"}, {"ip2mac", "--bogus"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitUsage || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ip2mac", "--help"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "nlbprobe ip2mac 172.31.3.232") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
}
