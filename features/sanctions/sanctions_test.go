package sanctions

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirhq/weir/features"
)

const (
	ronin = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
	other = "0x35fb6f6db4fb05e6a4ce86f2c93691425626d4b1"
	usdt  = "0x08723392ed15743cc38513c4925f5e6be5c17243"
)

// A crafted sdn.xml in OFAC's layout: namespace, the "publshInformation" spelling, an
// ETH id, a USDT id on an EVM address, a BTC id and a passport that must be ignored.
const sdnXML = `<?xml version="1.0" standalone="yes"?>
<sdnList xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML">
  <publshInformation>
    <Publish_Date>11/20/2026</Publish_Date>
    <Record_Count>2</Record_Count>
  </publshInformation>
  <sdnEntry>
    <uid>1</uid>
    <lastName>LAZARUS GROUP</lastName>
    <sdnType>Entity</sdnType>
    <programList><program>DPRK3</program></programList>
    <idList>
      <id><uid>11</uid><idType>Digital Currency Address - ETH</idType><idNumber>0x098B716B8Aaf21512996dC57EB0615e2383E2f96</idNumber></id>
      <id><uid>12</uid><idType>Digital Currency Address - ETH</idType><idNumber>0x35fB6f6DB4fb05e6A4cE86f2C93691425626d4b1</idNumber></id>
      <id><uid>13</uid><idType>Digital Currency Address - XBT</idType><idNumber>bc1qexampleexampleexampleexample0000000</idNumber></id>
    </idList>
  </sdnEntry>
  <sdnEntry>
    <uid>2</uid>
    <lastName>EXAMPLE</lastName>
    <sdnType>Individual</sdnType>
    <idList>
      <id><uid>21</uid><idType>Passport</idType><idNumber>0x00000000000000000000000000000000000000ff</idNumber></id>
      <id><uid>22</uid><idType>Digital Currency Address - USDT</idType><idNumber>0x08723392Ed15743cc38513C4925f5e6be5c17243</idNumber></id>
    </idList>
  </sdnEntry>
</sdnList>`

// A crafted SDN_ADVANCED.XML: reference values naming the feature types, then parties
// whose features point at them.
const advancedXML = `<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <DateOfIssue><Year>2026</Year><Month>11</Month><Day>20</Day></DateOfIssue>
  <ReferenceValueSets>
    <FeatureTypeValues>
      <FeatureType ID="8" FeatureTypeGroupID="1">Birthdate</FeatureType>
      <FeatureType ID="345" FeatureTypeGroupID="9">Digital Currency Address - ETH</FeatureType>
      <FeatureType ID="887" FeatureTypeGroupID="9">Digital Currency Address - USDT</FeatureType>
      <FeatureType ID="344" FeatureTypeGroupID="9">Digital Currency Address - XBT</FeatureType>
    </FeatureTypeValues>
  </ReferenceValueSets>
  <DistinctParties>
    <DistinctParty FixedRef="1">
      <Profile ID="1" PartySubTypeID="4">
        <Feature ID="100" FeatureTypeID="345">
          <FeatureVersion ID="1" ReliabilityID="1"><VersionDetail DetailTypeID="1432">0x098B716B8Aaf21512996dC57EB0615e2383E2f96</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="103" FeatureTypeID="345">
          <FeatureVersion ID="5" ReliabilityID="1"><VersionDetail DetailTypeID="1432">0x35fB6f6DB4fb05e6A4cE86f2C93691425626d4b1</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="101" FeatureTypeID="344">
          <FeatureVersion ID="2" ReliabilityID="1"><VersionDetail DetailTypeID="1432">bc1qexampleexampleexampleexample0000000</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="102" FeatureTypeID="8">
          <FeatureVersion ID="3" ReliabilityID="1"><VersionDetail DetailTypeID="1432">0x00000000000000000000000000000000000000ff</VersionDetail></FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="2">
      <Profile ID="2" PartySubTypeID="4">
        <Feature ID="200" FeatureTypeID="887">
          <FeatureVersion ID="4" ReliabilityID="1"><VersionDetail DetailTypeID="1432">0x08723392Ed15743cc38513C4925f5e6be5c17243</VersionDetail></FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
  </DistinctParties>
</Sanctions>`

// A crafted sdn.csv: OFAC's columns, "-0- " for empty, remarks with several ids.
const sdnCSV = `1,"LAZARUS GROUP","-0- ","DPRK3] [CYBER2","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","a.k.a. 'HIDDEN COBRA'; Digital Currency Address - ETH 0x098B716B8Aaf21512996dC57EB0615e2383E2f96; Digital Currency Address - XBT bc1qexampleexampleexampleexample0000000; Digital Currency Address - ETH 0x35fB6f6DB4fb05e6A4cE86f2C93691425626d4b1; Secondary sanctions risk: North Korea Sanctions Regulations."
2,"EXAMPLE, Person","individual","CYBER2","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","Passport 0x00000000000000000000000000000000000000ff; Digital Currency Address - USDT 0x08723392Ed15743cc38513C4925f5e6be5c17243."
`

func TestLoaders(t *testing.T) {
	want := []string{usdt, ronin, other}
	for _, c := range []struct {
		name, content, version string
	}{
		{"sdn.xml", sdnXML, "ofac-sdn:2026-11-20"},
		{"SDN_ADVANCED.XML", advancedXML, "ofac-sdn-advanced:2026-11-20"},
		{"sdn.csv", sdnCSV, "ofac-sdn-csv:sha256:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name)
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Addresses(); !slices.Equal(got, want) {
				t.Errorf("addresses %v, want %v", got, want)
			}
			if !strings.HasPrefix(l.Version(), c.version) || (c.name == "sdn.csv" && len(l.Version()) != len(c.version)+16) {
				t.Errorf("version %q, want %q…", l.Version(), c.version)
			}
			if !l.Sanctioned("1:"+ronin) || !l.Sanctioned("137:0x098B716B8Aaf21512996dC57EB0615e2383E2f96") ||
				l.Sanctioned("1:0x00000000000000000000000000000000000000ff") {
				t.Error("Sanctioned disagrees with the list")
			}
		})
	}
	// The CSV version follows the content.
	a, _ := ParseCSV(strings.NewReader(sdnCSV))
	b, _ := ParseCSV(strings.NewReader(sdnCSV + "3,\"X\"\n"))
	if a.Version() == b.Version() {
		t.Error("a changed CSV kept its version")
	}
}

func TestLoaderErrors(t *testing.T) {
	if _, err := ParseSDNXML(strings.NewReader(`<sdnList></sdnList>`)); !errors.Is(err, ErrNoVersion) {
		t.Errorf("sdn.xml without date: %v", err)
	}
	if _, err := ParseAdvancedXML(strings.NewReader(`<Sanctions></Sanctions>`)); !errors.Is(err, ErrNoVersion) {
		t.Errorf("advanced without date: %v", err)
	}
	if _, err := ParseSDNXML(strings.NewReader(`<sdnList><publshInformation>`)); err == nil {
		t.Error("truncated XML accepted")
	}
	if _, err := ParseAddressList(strings.NewReader("# version: x\nnot-an-address\n")); err == nil {
		t.Error("bad address accepted")
	}
}

func TestShippedList(t *testing.T) {
	l := Shipped()
	if l.Version() != "weir-ofac-eth-excerpt:2022-05-06" || l.Len() != 3 || !l.Contains(ronin) {
		t.Fatalf("shipped list: %q, %d addresses", l.Version(), l.Len())
	}
	var _ features.Sanctions = l
	e, err := features.New(features.Config{Sanctions: l})
	if err != nil || e.SanctionsVersion() != l.Version() {
		t.Fatalf("engine with the shipped list: %v", err)
	}
}

// FuzzParse: no input makes a loader panic, and whatever it accepts holds only EVM
// addresses and has a version.
func FuzzParse(f *testing.F) {
	for _, s := range []string{sdnXML, advancedXML, sdnCSV, "# version: x\n" + ronin + "\n", "<sdnList><publshInformation><Publish_Date>01/02/2026</Publish_Date></publshInformation></sdnList>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		if l.Version() == "" {
			t.Fatal("accepted a list without a version")
		}
		for _, a := range l.Addresses() {
			if !evmAddress.MatchString(a) || a != strings.ToLower(a) {
				t.Fatalf("kept %q", a)
			}
		}
	})
}
