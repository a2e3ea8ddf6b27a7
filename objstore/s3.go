package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

func init() { Register("s3", openS3URL) }

// Errors wrapped by OpenS3 (and so by Open for s3:// URLs) when the bucket
// check fails; each comes with a one-line message naming the endpoint.
var (
	// ErrBucketNotFound: the endpoint answered and the bucket does not exist.
	ErrBucketNotFound = errors.New("objstore: bucket does not exist")
	// ErrCredentials: no credentials were found, or the endpoint rejected them.
	ErrCredentials = errors.New("objstore: credentials missing or rejected")
	// ErrUnreachable: the endpoint did not answer (refused, DNS, TLS, timeout).
	ErrUnreachable = errors.New("objstore: endpoint unreachable")
)

const (
	awsEndpoint = "s3.amazonaws.com"
	// s3PartSize keeps every object Wisp writes (flush files are at most a
	// few MiB) a single PUT; larger objects go multipart in parts this big.
	s3PartSize = 64 << 20
	// iamTimeout bounds each instance-metadata request, so a machine that is
	// not on a cloud does not spend the whole open deadline looking for a role.
	iamTimeout = 3 * time.Second
)

// S3Credentials are static keys for an S3 endpoint.
type S3Credentials struct {
	AccessKey, SecretKey string
	SessionToken         string // optional, for temporary credentials
}

var (
	s3CredsMu sync.RWMutex
	s3Creds   = map[string]S3Credentials{}
)

// SetS3Credentials makes s3:// stores opened later for endpoint (HOST:PORT
// exactly as in the URL's endpoint parameter, "" for AWS) use c ahead of the
// environment. A zero c removes the entry. It exists so that tests running
// several endpoints in parallel, and programs embedding Wisp, can supply
// credentials without process-wide environment variables and without putting
// secrets in URLs. Safe for concurrent use.
func SetS3Credentials(endpoint string, c S3Credentials) {
	s3CredsMu.Lock()
	defer s3CredsMu.Unlock()
	if c == (S3Credentials{}) {
		delete(s3Creds, endpoint)
	} else {
		s3Creds[endpoint] = c
	}
}

// S3Config says which bucket an S3 store uses and how to reach it.
type S3Config struct {
	Bucket string
	// Prefix, if set, is prepended (as "Prefix/") to every key and stripped
	// from List results, so several clusters or tests can share a bucket.
	// It must itself be a valid key (see ValidateKey).
	Prefix string
	// Endpoint is HOST[:PORT] without a scheme; "" means AWS S3.
	Endpoint string
	// Region is the signing region; "" lets the client ask the endpoint.
	Region string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool
	// Style is the bucket addressing: "path", "virtual", or "" to let the
	// client choose from the endpoint (virtual for AWS, path for IPs).
	Style string
	// Credentials, if non-nil, are used as given. Otherwise they are, in
	// order: a SetS3Credentials entry for Endpoint; WISP_S3_ACCESS_KEY and
	// WISP_S3_SECRET_KEY (+ WISP_S3_SESSION_TOKEN); the AWS chain:
	// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, the shared
	// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
	// profile AWS_PROFILE), then an IAM role from instance metadata.
	Credentials *S3Credentials
}

// S3 is a Store kept in an S3 bucket (AWS, MinIO or any S3-compatible
// service). Objects are whole-object PUTs, so readers see all or nothing;
// Get is a ranged GET.
//
// The client does not retry by itself: wrap the store with NewRetrying, so
// that retries, backoff and per-attempt timeouts are decided in one place.
type S3 struct {
	client    *minio.Client
	bucket    string
	keyPrefix string // "" or Prefix+"/"
	endpoint  string // for messages: HOST:PORT, never empty
	desc      string // String(), without credentials
}

// openS3URL turns s3://BUCKET[/prefix]?endpoint=HOST:PORT&region=R&secure=BOOL&style=path|virtual
// into an S3Config and opens it.
func openS3URL(ctx context.Context, u *url.URL) (Store, error) {
	const form = "s3 URL must be s3://BUCKET[/prefix][?endpoint=HOST:PORT&region=R&secure=false&style=path|virtual]"
	if u.User != nil {
		return nil, errors.New(form + "; credentials do not belong in the URL: set WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY")
	}
	if u.Opaque != "" || u.Host == "" || u.Fragment != "" {
		return nil, errors.New(form)
	}
	cfg := S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if u.Path != "" && cfg.Prefix == "" && u.Path != "/" {
		return nil, fmt.Errorf("%s; prefix %q is empty", form, u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%s: bad query: %w", form, err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return nil, fmt.Errorf("%s; parameter %q given %d times", form, k, len(v))
		}
		switch k {
		case "endpoint":
			cfg.Endpoint = v[0]
		case "region":
			cfg.Region = v[0]
		case "style":
			cfg.Style = v[0]
		case "secure":
			secure, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, fmt.Errorf("%s; secure=%q is not true or false", form, v[0])
			}
			cfg.Insecure = !secure
		default:
			return nil, fmt.Errorf("%s; unknown parameter %q", form, k)
		}
	}
	return OpenS3(ctx, cfg)
}

// OpenS3 validates cfg, resolves credentials and checks that the bucket
// exists, so that a misconfigured bucket fails at start-up with one line
// saying what is wrong (wrapping ErrBucketNotFound, ErrCredentials or
// ErrUnreachable) rather than at the first flush. The check is bounded by
// ctx; give it a deadline.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("s3 bucket name %q: %w", cfg.Bucket, err)
	}
	if cfg.Prefix != "" {
		if err := ValidateKey(cfg.Prefix); err != nil {
			return nil, fmt.Errorf("s3 prefix: %w", err)
		}
	}
	if strings.Contains(cfg.Endpoint, "://") || strings.Contains(cfg.Endpoint, "/") {
		return nil, fmt.Errorf("s3 endpoint %q must be HOST:PORT without scheme or path (use secure=false for plain HTTP)", cfg.Endpoint)
	}
	lookup, ok := map[string]minio.BucketLookupType{
		"":        minio.BucketLookupAuto,
		"path":    minio.BucketLookupPath,
		"virtual": minio.BucketLookupDNS,
	}[cfg.Style]
	if !ok {
		return nil, fmt.Errorf("s3 style %q must be path or virtual", cfg.Style)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = awsEndpoint
	}
	s := &S3{bucket: cfg.Bucket, endpoint: endpoint, desc: describeS3(cfg, endpoint)}
	if cfg.Prefix != "" {
		s.keyPrefix = cfg.Prefix + "/"
	}

	creds, source, err := resolveS3Credentials(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.client, err = minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   1, // NewRetrying retries; retrying here too would multiply attempts
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %q: %w", endpoint, err)
	}
	if err := s.checkBucket(ctx, source); err != nil {
		return nil, err
	}
	return s, nil
}

func describeS3(cfg S3Config, endpoint string) string {
	var b strings.Builder
	b.WriteString("s3://" + cfg.Bucket)
	if cfg.Prefix != "" {
		b.WriteString("/" + cfg.Prefix)
	}
	b.WriteString("?endpoint=" + endpoint)
	if cfg.Region != "" {
		b.WriteString("&region=" + url.QueryEscape(cfg.Region))
	}
	if cfg.Insecure {
		b.WriteString("&secure=false")
	}
	if cfg.Style != "" {
		b.WriteString("&style=" + cfg.Style)
	}
	return b.String()
}

// resolveS3Credentials picks credentials in the order documented on
// S3Config.Credentials. source names where they came from, for messages.
func resolveS3Credentials(ctx context.Context, cfg S3Config) (creds *credentials.Credentials, source string, err error) {
	static := func(c S3Credentials) *credentials.Credentials {
		return credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken)
	}
	if cfg.Credentials != nil {
		return static(*cfg.Credentials), "S3Config.Credentials", nil
	}
	s3CredsMu.RLock()
	c, ok := s3Creds[cfg.Endpoint]
	s3CredsMu.RUnlock()
	if ok {
		return static(c), "SetS3Credentials", nil
	}
	access, secret := os.Getenv("WISP_S3_ACCESS_KEY"), os.Getenv("WISP_S3_SECRET_KEY")
	switch {
	case access != "" && secret != "":
		return static(S3Credentials{access, secret, os.Getenv("WISP_S3_SESSION_TOKEN")}), "WISP_S3_ACCESS_KEY", nil
	case access != "" || secret != "":
		return nil, "", &openError{msg: "WISP_S3_ACCESS_KEY and WISP_S3_SECRET_KEY must be set together", kind: ErrCredentials}
	}
	iamClient := &http.Client{Timeout: iamTimeout}
	chain := []credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{Client: iamClient},
	}
	creds = credentials.NewChainCredentials(chain)
	// Resolve now: an empty chain would otherwise sign nothing and every
	// request would come back AccessDenied, which hides the real cause.
	v, _ := creds.GetWithContext(&credentials.CredContext{Client: iamClient, Context: ctx})
	if v.AccessKeyID == "" {
		return nil, "", &openError{
			msg: fmt.Sprintf("no S3 credentials found for %s: set WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or an IAM role)",
				endpointName(cfg.Endpoint)),
			kind: ErrCredentials,
		}
	}
	return creds, "the AWS credential chain", nil
}

func endpointName(e string) string {
	if e == "" {
		return awsEndpoint
	}
	return e
}

// openError carries a one-line, user-facing message and wraps a category
// sentinel and the underlying cause, either of which may be nil.
type openError struct {
	msg   string
	kind  error
	cause error
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkBucket asks whether the bucket exists and turns the answer into one
// of the open errors. A 5xx answer (a server still starting, say) is asked
// again until ctx ends; anything else is final at once.
func (s *S3) checkBucket(ctx context.Context, credSource string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	for serverError(err) && sleepCtx(ctx, 250*time.Millisecond) {
		again, againErr := s.client.BucketExists(ctx, s.bucket)
		if againErr != nil && ctx.Err() != nil {
			break // cut off by the deadline: what the server last said is the news
		}
		exists, err = again, againErr
	}
	if err == nil && exists {
		return nil
	}
	if err == nil {
		return &openError{
			msg:  fmt.Sprintf("bucket %q does not exist at %s; create it first", s.bucket, s.endpoint),
			kind: ErrBucketNotFound, cause: ErrNotFound,
		}
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case minio.NoSuchBucket:
			return &openError{
				msg:  fmt.Sprintf("bucket %q does not exist at %s; create it first", s.bucket, s.endpoint),
				kind: ErrBucketNotFound, cause: err,
			}
		case minio.AccessDenied, minio.InvalidAccessKeyID, minio.SignatureDoesNotMatch,
			"InvalidToken", "ExpiredToken", "InvalidClientTokenId":
			return &openError{
				msg: oneLine(fmt.Sprintf("credentials rejected by %s: %s: %s (credentials from %s); set WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY",
					s.endpoint, er.Code, er.Error(), credSource)),
				kind: ErrCredentials, cause: err,
			}
		}
		return oneLineErr(fmt.Errorf("checking bucket %q at %s: %s: %w", s.bucket, s.endpoint, er.Code, err))
	}
	if ctx.Err() != nil {
		return &openError{
			msg:  oneLine(fmt.Sprintf("cannot reach %s: no answer before the open deadline: %v", s.endpoint, err)),
			kind: ErrUnreachable, cause: err,
		}
	}
	return &openError{
		msg:  oneLine(fmt.Sprintf("cannot reach %s: %v", s.endpoint, err)),
		kind: ErrUnreachable, cause: err,
	}
}

// sleepCtx waits for d and reports true, or reports false as soon as ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func serverError(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.StatusCode >= 500
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func oneLineErr(err error) error { return &openError{msg: oneLine(err.Error()), cause: err} }

func (s *S3) String() string { return s.desc }

// opErr describes a failed request: which operation, which key, what S3 said.
// A missing object wraps ErrNotFound.
func (s *S3) opErr(op Op, key string, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		if er.Code == minio.NoSuchKey {
			return fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
		}
		return fmt.Errorf("objstore: %s %q at %s: %s: %w", op, key, s.endpoint, er.Code, err)
	}
	return fmt.Errorf("objstore: %s %q at %s: %w", op, key, s.endpoint, err)
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.keyPrefix+key, bytes.NewReader(data), int64(len(data)),
		// No SHA-256 of the body for the signature: hashing every upload
		// cost about a quarter of the agent's CPU at full produce rate.
		// Integrity does not depend on it: minio-go then sends a CRC
		// trailer the server checks, and every batch in a data file carries
		// its own CRC-32C that fetch and compaction verify.
		minio.PutObjectOptions{PartSize: s3PartSize, ContentType: "application/octet-stream", DisableContentSha256: true})
	if err != nil {
		return s.opErr(OpPut, key, err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	if off < 0 {
		return nil, fmt.Errorf("objstore: get %q at offset %d: %w", key, off, ErrInvalidRange)
	}
	if length == 0 {
		// S3 has no empty range; a HEAD still says whether key and offset exist.
		return s.emptyRead(ctx, key, off, length)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err := opts.SetRange(off, off+length-1)
		if err != nil {
			return nil, fmt.Errorf("objstore: get %q: %w", key, err)
		}
	case off > 0:
		if err := opts.SetRange(off, 0); err != nil {
			return nil, fmt.Errorf("objstore: get %q: %w", key, err)
		}
	}
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.keyPrefix+key, opts)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == minio.InvalidRange {
			// The range starts at or past the end (or the object is empty):
			// only the size tells an empty read from ErrInvalidRange.
			return s.emptyRead(ctx, key, off, length)
		}
		return nil, s.opErr(OpGet, key, err)
	}
	defer body.Close()
	var data []byte
	if info.Size >= 0 {
		data = make([]byte, info.Size)
		_, err = io.ReadFull(body, data)
	} else {
		data, err = io.ReadAll(body)
	}
	if err != nil {
		return nil, s.opErr(OpGet, key, fmt.Errorf("reading body: %w", err))
	}
	return data, nil
}

// emptyRead answers a Get that can return no bytes: it checks that key exists
// and that off is within it.
func (s *S3) emptyRead(ctx context.Context, key string, off, length int64) ([]byte, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.keyPrefix+key, minio.StatObjectOptions{})
	if err != nil {
		return nil, s.opErr(OpGet, key, err)
	}
	start, end, err := clampRange(key, info.Size, off, length)
	if err != nil {
		return nil, err
	}
	if start != end {
		// The object grew between the GET and the HEAD (overwritten); the
		// caller may retry and see the new version whole.
		return nil, fmt.Errorf("objstore: get %q: object changed while reading", key)
	}
	return []byte{}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	// S3 answers a DELETE of a missing key with success, which is the contract.
	if err := s.client.RemoveObject(ctx, s.bucket, s.keyPrefix+key, minio.RemoveObjectOptions{}); err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == minio.NoSuchKey {
			return nil
		}
		return s.opErr(OpDelete, key, err)
	}
	return nil
}

// List implements Store. Objects in the bucket whose keys no Store could
// have written (such as "folder/" markers made by other tools) are skipped.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	if !prefixCanMatch(prefix) {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine if we return early
	var out []ObjectInfo
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.keyPrefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.opErr(OpList, prefix, obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, s.keyPrefix)
		if !ok || ValidateKey(key) != nil {
			continue
		}
		out = append(out, ObjectInfo{Key: key, Size: obj.Size, Modified: obj.LastModified})
	}
	// S3 lists in byte order already; this only guards odd implementations.
	cmp := func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(out, cmp) {
		slices.SortFunc(out, cmp)
	}
	return out, nil
}
