package bleve

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// ErrQuery is wrapped by the errors of queries that do not parse.
var ErrQuery = errors.New("bleve: bad query")

// ParseQuery turns a query string into a Bleve query, for Search. The syntax is the
// subset of Lucene's query_string (what `weir search` sends to Elasticsearch) that audit
// searches use:
//
//   - field:value — keyword fields (ids, hashes, addresses, assets, amounts, bytes as
//     0x-hex) match the exact, case-sensitive value; enums and free text match words,
//     all of them (state:failed and state:INTENT_STATE_FAILED both match
//     INTENT_STATE_FAILED; state.keyword:INTENT_STATE_FAILED matches the exact name);
//     numbers, timestamps and booleans match the value (retracted:false,
//     meta.event_time:"2025-03-14T15:09:27.535897932Z"); _id:value matches an event id.
//     Nested fields are dotted (amount.asset:USDC).
//   - field:"a phrase" — a quoted value, which may hold spaces and operators; for free
//     text, the words in that order.
//   - field:pre* and field:p?e — wildcards; field:/regexp/ — a regular expression
//     (whole term).
//   - field:>v, field:>=v, field:<v, field:<=v and field:[a TO b], field:{a TO b}
//     (inclusive with [ ], exclusive with { }, * for open) — ranges over numbers,
//     timestamps (RFC 3339, or a date 2006-01-02) and, for keywords, strings.
//   - a value without a field — its words anywhere in the document (the _all field);
//   - alone (or *:*) matches every document.
//   - A AND B (also &&, or two clauses side by side: the default operator is AND), A OR
//     B (||), NOT A (!A, -A), +A (= A), parentheses, and field:(a OR b) to give clauses
//     without a field that field. NOT binds tightest, then AND, then OR.
//
// Not supported: boosts (^), fuzzy and proximity (~), and Elasticsearch date math
// (now-1d). A backslash escapes the next character of a bare value. ParseQuery is safe
// for concurrent use.
func (w *Writer) ParseQuery(s string) (query.Query, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	p := &parser{toks: toks, schema: w.schema}
	if len(toks) == 0 {
		return query.NewMatchAllQuery(), nil
	}
	q, err := p.or("")
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrQuery, s, err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("%w %q: unexpected %s", ErrQuery, s, p.toks[p.pos])
	}
	return q, nil
}

type tokKind int

const (
	tokTerm tokKind = iota
	tokAnd
	tokOr
	tokNot
	tokPlus
	tokOpen  // "(" or "field:("; field set for the latter
	tokClose // ")"
)

// token is one lexeme; a term is field:value with its value's form.
type token struct {
	kind   tokKind
	field  string
	value  string
	quoted bool
	regexp bool
	cmp    string // ">", ">=", "<", "<=" or "" for a comparison
	// a range [lo TO hi]: hasRange set, bounds "" for *
	hasRange            bool
	lo, hi              string
	loIncl, hiIncl      bool
	wildcard, wildcard0 bool // value has an unescaped * or ?; wildcard0: the value is only "*"
}

func (t token) String() string {
	switch t.kind {
	case tokAnd:
		return "AND"
	case tokOr:
		return "OR"
	case tokNot:
		return "NOT"
	case tokPlus:
		return "+"
	case tokOpen:
		return t.field + "("
	case tokClose:
		return ")"
	}
	if t.field != "" {
		return t.field + ":" + t.value
	}
	return t.value
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			toks = append(toks, token{kind: tokOpen})
			i++
			continue
		case c == ')':
			toks = append(toks, token{kind: tokClose})
			i++
			continue
		case c == '-' || c == '!':
			toks = append(toks, token{kind: tokNot})
			i++
			continue
		case c == '+':
			toks = append(toks, token{kind: tokPlus})
			i++
			continue
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, token{kind: tokAnd})
			i += 2
			continue
		case strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{kind: tokOr})
			i += 2
			continue
		}
		// A bare word: an operator, field:..., or a value.
		start := i
		field := ""
		if c != '"' && c != '/' {
			j := i
			for j < len(s) && !isStop(s[j]) && s[j] != ':' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			word := s[i:min(j, len(s))]
			if j >= len(s) || s[j] != ':' {
				switch word {
				case "AND":
					toks = append(toks, token{kind: tokAnd})
					i = j
					continue
				case "OR":
					toks = append(toks, token{kind: tokOr})
					i = j
					continue
				case "NOT":
					toks = append(toks, token{kind: tokNot})
					i = j
					continue
				}
			} else {
				field = unescape(word)
				i = j + 1
				if field == "" {
					return nil, fmt.Errorf("empty field name at %d", start)
				}
			}
		}
		t := token{kind: tokTerm, field: field}
		if i >= len(s) {
			return nil, fmt.Errorf("field %s has no value", field)
		}
		if field != "" && s[i] == '(' {
			toks = append(toks, token{kind: tokOpen, field: field})
			i++
			continue
		}
		if field != "" {
			for _, op := range []string{">=", "<=", ">", "<"} {
				if strings.HasPrefix(s[i:], op) {
					t.cmp = op
					i += len(op)
					break
				}
			}
		}
		var err error
		switch {
		case i < len(s) && s[i] == '"':
			t.quoted = true
			t.value, i, err = quoted(s, i, '"')
		case i < len(s) && s[i] == '/' && t.cmp == "":
			t.regexp = true
			t.value, i, err = quoted(s, i, '/')
		case i < len(s) && (s[i] == '[' || s[i] == '{') && t.cmp == "" && field != "":
			i, err = rangeOf(s, i, &t)
		default:
			j := i
			for j < len(s) && !isStop(s[j]) {
				if s[j] == '\\' {
					j++
				} else if s[j] == '*' || s[j] == '?' {
					t.wildcard = true
				}
				j++
			}
			j = min(j, len(s))
			if j == i {
				return nil, fmt.Errorf("no value at %d", i)
			}
			if t.wildcard {
				t.value = s[i:j] // Bleve's wildcard syntax has the same escapes
				t.wildcard0 = t.value == "*"
			} else {
				t.value = unescape(s[i:j])
			}
			i = j
		}
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
	return toks, nil
}

func isStop(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')'
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// quoted reads a value between delim at s[i] and the next unescaped delim.
func quoted(s string, i int, delim byte) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) {
				j++
				if delim == '/' && s[j] != '/' {
					b.WriteByte('\\') // a regexp keeps its escapes
				}
			}
		case delim:
			return b.String(), j + 1, nil
		}
		b.WriteByte(s[j])
	}
	return "", 0, fmt.Errorf("unterminated %c at %d", delim, i)
}

// rangeOf reads [lo TO hi] or {lo TO hi} at s[i].
func rangeOf(s string, i int, t *token) (int, error) {
	end := strings.IndexAny(s[i:], "]}")
	if end < 0 {
		return 0, fmt.Errorf("unterminated range at %d", i)
	}
	parts := strings.Fields(s[i+1 : i+end])
	if len(parts) != 3 || parts[1] != "TO" {
		return 0, fmt.Errorf("range %q is not [a TO b]", s[i:i+end+1])
	}
	t.hasRange = true
	t.loIncl, t.hiIncl = s[i] == '[', s[i+end] == ']'
	bound := func(v string) string {
		if v == "*" {
			return ""
		}
		return strings.Trim(v, `"`)
	}
	t.lo, t.hi = bound(parts[0]), bound(parts[2])
	t.value = s[i : i+end+1]
	return i + end + 1, nil
}

type parser struct {
	toks   []token
	pos    int
	schema *node
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

// or parses clauses joined by OR; field is the field of an enclosing field:( ).
func (p *parser) or(field string) (query.Query, error) {
	var qs []query.Query
	for {
		q, err := p.and(field)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
		t, ok := p.peek()
		if !ok || t.kind != tokOr {
			break
		}
		p.pos++
	}
	if len(qs) == 1 {
		return qs[0], nil
	}
	return query.NewDisjunctionQuery(qs), nil
}

// and parses unary clauses joined by AND or by nothing.
func (p *parser) and(field string) (query.Query, error) {
	var must, mustNot []query.Query
	for {
		q, neg, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		if neg {
			mustNot = append(mustNot, q)
		} else {
			must = append(must, q)
		}
		t, ok := p.peek()
		if !ok || t.kind == tokOr || t.kind == tokClose {
			break
		}
		if t.kind == tokAnd {
			p.pos++
		}
	}
	if len(mustNot) == 0 {
		if len(must) == 1 {
			return must[0], nil
		}
		return query.NewConjunctionQuery(must), nil
	}
	if len(must) == 0 {
		must = []query.Query{query.NewMatchAllQuery()}
	}
	return query.NewBooleanQuery(must, nil, mustNot), nil
}

// unary parses NOT x, +x, ( … ), field:( … ) or a term; neg reports a negation.
func (p *parser) unary(field string) (q query.Query, neg bool, err error) {
	t, ok := p.peek()
	if !ok {
		return nil, false, errors.New("unexpected end")
	}
	p.pos++
	switch t.kind {
	case tokNot:
		q, neg, err := p.unary(field)
		return q, !neg, err
	case tokPlus:
		return p.unary(field)
	case tokOpen:
		if t.field != "" {
			field = t.field
		}
		q, err := p.or(field)
		if err != nil {
			return nil, false, err
		}
		if c, ok := p.peek(); !ok || c.kind != tokClose {
			return nil, false, errors.New("missing )")
		}
		p.pos++
		return q, false, nil
	case tokTerm:
		if t.field == "" {
			t.field = field
		}
		q, err := p.schema.leaf(t)
		return q, false, err
	}
	return nil, false, fmt.Errorf("unexpected %s", t)
}

// leaf turns one term into a query according to its field's kind.
func (n *node) leaf(t token) (query.Query, error) {
	if t.wildcard0 && (t.field == "" || t.field == "*") {
		return query.NewMatchAllQuery(), nil
	}
	if t.field == "_id" {
		return query.NewDocIDQuery([]string{t.value}), nil
	}
	if t.field == "" || t.field == "*" {
		return words(fieldAll, t), nil
	}
	fn, sub := n.lookup(t.field)
	k := kindText
	switch {
	case fn == nil:
		// Unknown field: nothing is indexed under it, so nothing matches (as with an
		// unmapped field in Elasticsearch).
		k = kindKeyword
	case sub:
		k = kindKeyword
	default:
		k = fn.kind
	}
	if t.wildcard0 {
		// field:* — the field has a value.
		if k == kindObject {
			return nil, fmt.Errorf("field %s is an object", t.field)
		}
		return exists(t.field, k), nil
	}
	switch k {
	case kindObject:
		return nil, fmt.Errorf("field %s is an object; name one of its fields", t.field)
	case kindKeyword:
		switch {
		case t.regexp:
			return withField(query.NewRegexpQuery(t.value), t.field), nil
		case t.wildcard:
			return withField(query.NewWildcardQuery(t.value), t.field), nil
		case t.cmp != "" || t.hasRange:
			lo, hi, loIncl, hiIncl := bounds(t)
			q := query.NewTermRangeInclusiveQuery(lo, hi, ptr(loIncl), ptr(hiIncl))
			q.SetField(t.field)
			return q, nil
		}
		return withField(query.NewTermQuery(t.value), t.field), nil
	case kindEnum, kindText:
		switch {
		case t.regexp:
			return withField(query.NewRegexpQuery(t.value), t.field), nil
		case t.wildcard:
			return withField(query.NewWildcardQuery(strings.ToLower(t.value)), t.field), nil
		case t.cmp != "" || t.hasRange:
			return nil, fmt.Errorf("field %s holds words; a range needs %s.keyword", t.field, t.field)
		}
		return words(t.field, t), nil
	case kindNumber:
		if t.regexp || t.wildcard || t.quoted && t.value == "" {
			return nil, fmt.Errorf("field %s is a number; %q is not", t.field, t.value)
		}
		lo, hi, loIncl, hiIncl := bounds(t)
		var lf, hf *float64
		for _, b := range []struct {
			s string
			f **float64
		}{{lo, &lf}, {hi, &hf}} {
			if b.s == "" {
				continue
			}
			f, err := strconv.ParseFloat(b.s, 64)
			if err != nil {
				return nil, fmt.Errorf("field %s is a number; %q is not", t.field, b.s)
			}
			*b.f = &f
		}
		q := query.NewNumericRangeInclusiveQuery(lf, hf, ptr(loIncl), ptr(hiIncl))
		q.SetField(t.field)
		return q, nil
	case kindDate:
		if t.regexp || t.wildcard {
			return nil, fmt.Errorf("field %s is a timestamp; %q is not", t.field, t.value)
		}
		lo, hi, loIncl, hiIncl := bounds(t)
		var lt, ht time.Time
		for _, b := range []struct {
			s string
			t *time.Time
		}{{lo, &lt}, {hi, &ht}} {
			if b.s == "" {
				continue
			}
			v, err := parseTime(b.s)
			if err != nil {
				return nil, fmt.Errorf("field %s is a timestamp: %w", t.field, err)
			}
			*b.t = v
		}
		q := query.NewDateRangeInclusiveQuery(lt, ht, ptr(loIncl), ptr(hiIncl))
		q.SetField(t.field)
		return q, nil
	case kindBool:
		b, err := strconv.ParseBool(strings.ToLower(t.value))
		if err != nil || t.cmp != "" || t.hasRange {
			return nil, fmt.Errorf("field %s is a boolean; %q is not", t.field, t.value)
		}
		q := query.NewBoolFieldQuery(b)
		q.SetField(t.field)
		return q, nil
	}
	return nil, fmt.Errorf("field %s cannot be searched", t.field)
}

// words matches the words of t's value in field: all of them, or the phrase when
// quoted.
func words(field string, t token) query.Query {
	switch {
	case t.regexp:
		return withField(query.NewRegexpQuery(t.value), field)
	case t.wildcard:
		return withField(query.NewWildcardQuery(strings.ToLower(t.value)), field)
	case t.quoted && field != fieldAll:
		q := query.NewMatchPhraseQuery(t.value)
		q.SetField(field)
		return q
	}
	q := query.NewMatchQuery(t.value)
	q.SetField(field)
	q.SetOperator(query.MatchQueryOperatorAnd)
	return q
}

type fielder interface {
	query.Query
	SetField(string)
}

func withField(q fielder, field string) query.Query {
	q.SetField(field)
	return q
}

// exists matches documents with a value in field.
func exists(field string, k kind) query.Query {
	switch k {
	case kindNumber:
		q := query.NewNumericRangeQuery(nil, nil)
		q.SetField(field)
		return q
	case kindDate:
		q := query.NewDateRangeQuery(time.Time{}, time.Time{})
		q.SetField(field)
		return q
	case kindBool:
		t, f := query.NewBoolFieldQuery(true), query.NewBoolFieldQuery(false)
		t.SetField(field)
		f.SetField(field)
		return query.NewDisjunctionQuery([]query.Query{t, f})
	}
	return withField(query.NewWildcardQuery("*"), field)
}

// bounds returns the range of a comparison, a range or a single value ([v TO v]).
func bounds(t token) (lo, hi string, loIncl, hiIncl bool) {
	switch {
	case t.hasRange:
		return t.lo, t.hi, t.loIncl, t.hiIncl
	case t.cmp == ">":
		return t.value, "", false, false
	case t.cmp == ">=":
		return t.value, "", true, false
	case t.cmp == "<":
		return "", t.value, false, false
	case t.cmp == "<=":
		return "", t.value, false, true
	}
	return t.value, t.value, true, true
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a date", s)
}

func ptr[T any](v T) *T { return &v }
