package agent

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestListenerSpecs(t *testing.T) {
	base := func(f func(c *Config)) Config {
		c := DefaultConfig()
		c.KafkaAddr = "127.0.0.1:9092"
		f(&c)
		return c
	}
	type spec struct{ name, protocol, bind, advertise string }
	tests := []struct {
		name    string
		cfg     Config
		want    []spec
		badFlag string
	}{
		{"kafka-addr alone is PLAINTEXT", base(func(c *Config) {}),
			[]spec{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1:9092", ""}}, ""},
		{"a certificate makes it SSL", base(func(c *Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }),
			[]spec{{"SSL", "SSL", "127.0.0.1:9092", ""}}, ""},
		{"mechanisms make it SASL", base(func(c *Config) { c.SASLMechanisms = []string{"PLAIN"}; c.AdvertiseAddr = "kafka.example:9092" }),
			[]spec{{"SASL_PLAINTEXT", "SASL_PLAINTEXT", "127.0.0.1:9092", "kafka.example:9092"}}, ""},
		{"both make it SASL_SSL", base(func(c *Config) { c.SASLMechanisms = []string{"PLAIN"}; c.TLSCert, c.TLSKey = "c", "k" }),
			[]spec{{"SASL_SSL", "SASL_SSL", "127.0.0.1:9092", ""}}, ""},
		{"listeners with advertised addresses", base(func(c *Config) {
			c.Listeners = []string{"PLAINTEXT://127.0.0.1:9092", "sasl_ssl://0.0.0.0:9093"}
			c.AdvertiseListeners = []string{"SASL_SSL://kafka.example.com:443"}
			c.SASLMechanisms = []string{"SCRAM-SHA-256"}
			c.TLSCert, c.TLSKey = "c", "k"
		}), []spec{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1:9092", ""}, {"SASL_SSL", "SASL_SSL", "0.0.0.0:9093", "kafka.example.com:443"}}, ""},
		{"named listeners through the protocol map", base(func(c *Config) {
			c.Listeners = []string{"INTERNAL://127.0.0.1:9092", "EXTERNAL://0.0.0.0:9093"}
			c.ListenerProtocolMap = []string{"internal:PLAINTEXT", "EXTERNAL:SASL_PLAINTEXT"}
			c.SASLMechanisms = []string{"PLAIN"}
		}), []spec{{"INTERNAL", "PLAINTEXT", "127.0.0.1:9092", ""}, {"EXTERNAL", "SASL_PLAINTEXT", "0.0.0.0:9093", ""}}, ""},
		{"SSL without a certificate", base(func(c *Config) { c.Listeners = []string{"SSL://:9093"} }), nil, "tls-cert"},
		{"SASL without mechanisms", base(func(c *Config) { c.Listeners = []string{"SASL_PLAINTEXT://:9093"} }), nil, "sasl-mechanisms"},
		{"unknown protocol", base(func(c *Config) { c.Listeners = []string{"OUTSIDE://:9093"} }), nil, "listeners"},
		{"same name twice", base(func(c *Config) { c.Listeners = []string{"PLAINTEXT://:9092", "PLAINTEXT://:9093"} }), nil, "listeners"},
		{"not a URL", base(func(c *Config) { c.Listeners = []string{"127.0.0.1:9092"} }), nil, "listeners"},
		{"bad map entry", base(func(c *Config) { c.ListenerProtocolMap = []string{"X:TLS"} }), nil, "listener-security-protocol-map"},
		{"advertising an unknown listener", base(func(c *Config) { c.AdvertiseListeners = []string{"SSL://a:1"} }), nil, "advertise-listeners"},
		{"advertising an unspecified host", base(func(c *Config) {
			c.Listeners = []string{"PLAINTEXT://:9092"}
			c.AdvertiseListeners = []string{"PLAINTEXT://0.0.0.0:9092"}
		}), nil, "advertise-listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := tt.cfg.listenerSpecs()
			if tt.badFlag != "" {
				var fe *FlagError
				if !errors.As(err, &fe) || fe.Flag != tt.badFlag {
					t.Fatalf("error %v, want one naming --%s", err, tt.badFlag)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []spec
			for _, s := range specs {
				got = append(got, spec{s.name, s.protocol, s.bind, s.advertise})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("listeners %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateSecurityFlags(t *testing.T) {
	for _, tt := range []struct {
		flag string
		set  func(c *Config)
	}{
		{"tls-cert", func(c *Config) { c.TLSCert = "c.pem" }},
		{"tls-client-auth", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSClientAuth = "c", "k", "sometimes" }},
		{"tls-client-auth", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSClientAuth = "c", "k", "required" }},
		{"tls-ca", func(c *Config) { c.TLSCA = "ca.pem" }},
		{"http-tls-cert", func(c *Config) { c.HTTPTLSKey = "k" }},
		{"sasl-mechanisms", func(c *Config) { c.SASLMechanisms = []string{"GSSAPI"} }},
		{"sasl-session-lifetime", func(c *Config) { c.SASLSessionLifetime = 5 }},
		{"super-users", func(c *Config) { c.SuperUsers = []string{"admin"} }},
	} {
		c := DefaultConfig()
		c.BucketURL = "mem://x"
		tt.set(&c)
		var fe *FlagError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Flag != tt.flag {
			t.Errorf("Validate = %v, want an error naming --%s", err, tt.flag)
		}
	}
	c := DefaultConfig()
	c.BucketURL = "mem://x"
	c.SASLMechanisms = []string{" scram-sha-256", "plain"}
	if err := c.Validate(); err != nil || !reflect.DeepEqual(c.SASLMechanisms, []string{"SCRAM-SHA-256", "PLAIN"}) {
		t.Fatalf("mechanisms %v, %v", c.SASLMechanisms, err)
	}
}

func TestReadUsersFile(t *testing.T) {
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "users")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users, err := readUsersFile(write("# admins\nadmin:s3cret\n\n  # more\nbob:pa:ss:word \r\ncarol: spaced\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []seedUser{{"admin", "s3cret"}, {"bob", "pa:ss:word "}, {"carol", " spaced"}}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users %q, want %q", users, want)
	}
	for content, wantErr := range map[string]string{
		"nopassword\n":  "line 1",
		"a:b\n:pw\n":    "line 2",
		"a:\n":          "empty password",
		"a:1\nb:2\na:3": "listed twice",
	} {
		if _, err := readUsersFile(write(content)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want an error with %q", content, err, wantErr)
		}
	}
}
