// Package sanctions loads sanctions lists of chain addresses for the features
// (sanctioned_counterparty, sanctioned_exposure_count_7d): OFAC's SDN list in its
// official formats, so that an operator drops in the current file, and a small
// address list shipped with weir (data/ofac_eth_excerpt.txt).
//
// Formats (Load picks by content):
//
//   - sdn.xml, the classic SDN XML: every <id> whose <idType> is "Digital Currency
//     Address - …" and whose <idNumber> is a 0x address. Version "ofac-sdn:<Publish_Date
//     as YYYY-MM-DD>" from <publshInformation> (sic, OFAC's spelling).
//   - SDN_ADVANCED.XML: every <Feature> whose FeatureTypeID names a "Digital Currency
//     Address - …" <FeatureType>, its <VersionDetail> text. Version
//     "ofac-sdn-advanced:<DateOfIssue>".
//   - sdn.csv: "Digital Currency Address - <CUR> 0x…;" in any field (the Remarks
//     column). The CSV carries no publication date: version "ofac-sdn-csv:sha256:<first
//     16 hex digits of the file's SHA-256>".
//   - the weir address list: "# version: <id>" then one address per line (comments
//     after '#').
//
// Only EVM addresses (0x + 40 hex) are kept, lowercased, whatever the currency tag
// (ETH, USDT, USDC, ARB, BSC, ETC…): an EVM address is the same key on every EVM chain,
// so a listed address is sanctioned on every chain id. Bitcoin-style addresses are
// ignored: weir indexes EVM chains.
package sanctions

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// List is a set of sanctioned EVM addresses with the version of the list they came
// from. Immutable once loaded: safe for concurrent use.
type List struct {
	addrs   map[string]struct{}
	version string
}

// ErrNoVersion is returned for a file without the publication information a version
// is made of.
var ErrNoVersion = errors.New("sanctions: list has no version")

var evmAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

func newList(version string) *List { return &List{addrs: map[string]struct{}{}, version: version} }

func (l *List) add(addr string) bool {
	addr = strings.TrimSpace(addr)
	if !evmAddress.MatchString(addr) {
		return false
	}
	l.addrs[strings.ToLower(addr)] = struct{}{}
	return true
}

// Version identifies the list, e.g. "ofac-sdn:2026-11-20"; stamped on feature vectors
// as sanctions_list_version.
func (l *List) Version() string { return l.version }

// Len returns the number of addresses.
func (l *List) Len() int { return len(l.addrs) }

// Contains reports whether the address (0x hex, any case) is listed.
func (l *List) Contains(addr string) bool {
	_, ok := l.addrs[strings.ToLower(addr)]
	return ok
}

// Sanctioned reports whether an address entity ("<chain id>:<address>") is listed, on
// any chain id. It makes List a features.Sanctions.
func (l *List) Sanctioned(entityID string) bool {
	i := strings.LastIndexByte(entityID, ':')
	return l.Contains(entityID[i+1:])
}

// Addresses returns the addresses, lowercased and sorted.
func (l *List) Addresses() []string {
	out := make([]string, 0, len(l.addrs))
	for a := range l.addrs {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

//go:embed data/ofac_eth_excerpt.txt
var shipped []byte

// Shipped returns the address list that ships with weir (data/ofac_eth_excerpt.txt): a
// few publicly documented OFAC-listed Ethereum addresses, for development and tests. It
// is NOT the current SDN list: production loads the official file with Load.
func Shipped() *List {
	l, err := ParseAddressList(bytes.NewReader(shipped))
	if err != nil {
		panic("sanctions: shipped list: " + err.Error())
	}
	return l
}

// Load reads a list file in any of the supported formats (see the package doc),
// recognised by its content.
func Load(path string) (*List, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sanctions: %w", err)
	}
	return Parse(b)
}

// Parse reads a list in any of the supported formats, recognised by its content.
func Parse(b []byte) (*List, error) {
	head := b[:min(len(b), 4096)]
	switch {
	case bytes.Contains(head, []byte("<sdnList")):
		return ParseSDNXML(bytes.NewReader(b))
	case bytes.Contains(head, []byte("<Sanctions")):
		return ParseAdvancedXML(bytes.NewReader(b))
	case bytes.HasPrefix(bytes.TrimSpace(head), []byte("#")):
		return ParseAddressList(bytes.NewReader(b))
	}
	return ParseCSV(bytes.NewReader(b))
}

const currencyIDPrefix = "Digital Currency Address - "

// ParseSDNXML reads the classic sdn.xml.
func ParseSDNXML(r io.Reader) (*List, error) {
	dec := xml.NewDecoder(r)
	l := newList("")
	var path []string
	var idType, idNumber, publish string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sanctions: sdn.xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			if t.Name.Local == "id" {
				idType, idNumber = "", ""
			}
		case xml.EndElement:
			if t.Name.Local == "id" && strings.HasPrefix(idType, currencyIDPrefix) {
				l.add(idNumber)
			}
			path = path[:len(path)-1]
		case xml.CharData:
			if len(path) == 0 {
				continue
			}
			text := strings.TrimSpace(string(t))
			switch path[len(path)-1] {
			case "idType":
				idType += text
			case "idNumber":
				idNumber += text
			case "Publish_Date":
				publish += text
			}
		}
	}
	if publish == "" {
		return nil, fmt.Errorf("%w: sdn.xml without Publish_Date", ErrNoVersion)
	}
	d, err := time.Parse("01/02/2006", publish)
	if err != nil {
		return nil, fmt.Errorf("sanctions: sdn.xml Publish_Date %q: %w", publish, err)
	}
	l.version = "ofac-sdn:" + d.Format(time.DateOnly)
	return l, nil
}

// ParseAdvancedXML reads SDN_ADVANCED.XML.
func ParseAdvancedXML(r io.Reader) (*List, error) {
	dec := xml.NewDecoder(r)
	currencyTypes := map[string]bool{}
	type feature struct{ typeID, value string }
	var features []feature
	var path []string
	var cur *feature
	var featureTypeID string
	var year, month, day string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sanctions: advanced xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch t.Name.Local {
			case "FeatureType":
				featureTypeID = attr(t, "ID")
			case "Feature":
				cur = &feature{typeID: attr(t, "FeatureTypeID")}
			}
		case xml.EndElement:
			if t.Name.Local == "Feature" && cur != nil {
				features = append(features, *cur)
				cur = nil
			}
			path = path[:len(path)-1]
		case xml.CharData:
			if len(path) == 0 {
				continue
			}
			text := strings.TrimSpace(string(t))
			inDate := len(path) >= 2 && path[len(path)-2] == "DateOfIssue"
			switch last := path[len(path)-1]; {
			case last == "FeatureType" && strings.HasPrefix(text, currencyIDPrefix):
				currencyTypes[featureTypeID] = true
			case last == "VersionDetail" && cur != nil:
				cur.value += text
			case inDate && last == "Year":
				year = text
			case inDate && last == "Month":
				month = text
			case inDate && last == "Day":
				day = text
			}
		}
	}
	y, ey := strconv.Atoi(year)
	m, em := strconv.Atoi(month)
	d, ed := strconv.Atoi(day)
	if ey != nil || em != nil || ed != nil {
		return nil, fmt.Errorf("%w: advanced xml without a DateOfIssue", ErrNoVersion)
	}
	l := newList(fmt.Sprintf("ofac-sdn-advanced:%04d-%02d-%02d", y, m, d))
	for _, f := range features {
		if currencyTypes[f.typeID] {
			l.add(f.value)
		}
	}
	return l, nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var remarkAddress = regexp.MustCompile(`Digital Currency Address - [A-Za-z0-9]+\s+(0x[0-9a-fA-F]{40})\b`)

// ParseCSV reads sdn.csv (or any CSV whose fields mention "Digital Currency Address -
// <CUR> 0x…").
func ParseCSV(r io.Reader) (*List, error) {
	h := sha256.New()
	cr := csv.NewReader(io.TeeReader(r, h))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var found []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sanctions: csv: %w", err)
		}
		for _, f := range rec {
			for _, m := range remarkAddress.FindAllStringSubmatch(f, -1) {
				found = append(found, m[1])
			}
		}
	}
	l := newList("ofac-sdn-csv:sha256:" + hex.EncodeToString(h.Sum(nil))[:16])
	for _, a := range found {
		l.add(a)
	}
	return l, nil
}

// ParseAddressList reads weir's address list: a "# version: <id>" line, then one
// address per line; text after '#' is a comment.
func ParseAddressList(r io.Reader) (*List, error) {
	l := newList("")
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# version:"); ok && l.version == "" {
			l.version = strings.TrimSpace(v)
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !l.add(line) {
			return nil, fmt.Errorf("sanctions: line %d: %q is not an EVM address", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sanctions: %w", err)
	}
	if l.version == "" {
		return nil, fmt.Errorf("%w: no '# version:' line", ErrNoVersion)
	}
	return l, nil
}
