package elasticsearch

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Secret reports whether a field must never reach the index: its name looks like secret
// material (a private key, a key share, a seed, a password, an API key or a credential
// token). Such fields are dropped when documents and mappings are generated, so neither
// the value nor the field name is stored.
//
// The deny-list works on the snake_case tokens of the field's name:
//   - any name containing "secret", "password", "passwd", "passphrase", "mnemonic",
//     "privkey", "private_key", "priv_key", "seed_phrase" or "credential";
//   - "api_key"/"apikey", unless followed by "id", "ids" or "prefix" (api_key_id names a
//     key, it does not hold one);
//   - a string, bytes or message field with a token "share"/"shares" (key shares; counts
//     such as shares_accepted are numbers and stay), "seed" or "pin";
//   - a string or bytes field whose last token is "token" or "tokens" (access_token,
//     refresh_token; token_id, or the ERC-20 Token message, stay).
//
// It is a pure function of the descriptor, safe for concurrent use.
func Secret(fd protoreflect.FieldDescriptor) bool {
	return secretName(string(fd.Name()), fd.Kind())
}

var secretSubstrings = []string{
	"secret", "password", "passwd", "passphrase", "mnemonic", "privkey", "private_key",
	"priv_key", "seed_phrase", "credential",
}

func secretName(name string, kind protoreflect.Kind) bool {
	name = strings.ToLower(name)
	for _, s := range secretSubstrings {
		if strings.Contains(name, s) {
			return true
		}
	}
	tokens := strings.Split(name, "_")
	stringy := kind == protoreflect.StringKind || kind == protoreflect.BytesKind
	for i, t := range tokens {
		apiKey := t == "apikey" || (t == "api" && i+1 < len(tokens) && tokens[i+1] == "key")
		if apiKey {
			next := i + 1
			if t == "api" {
				next = i + 2
			}
			if next >= len(tokens) || (tokens[next] != "id" && tokens[next] != "ids" && tokens[next] != "prefix") {
				return true
			}
		}
		switch t {
		case "share", "shares", "seed", "pin":
			if stringy || kind == protoreflect.MessageKind {
				return true
			}
		}
	}
	if last := tokens[len(tokens)-1]; stringy && (last == "token" || last == "tokens") {
		return true
	}
	return false
}
