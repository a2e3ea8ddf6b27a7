// Command mkbucket creates an S3 bucket if it does not exist yet; the
// scripts use it to prepare a MinIO without the mc client. Credentials come
// from WISP_S3_ACCESS_KEY and WISP_S3_SECRET_KEY.
//
//	go run ./scripts/mkbucket -endpoint 127.0.0.1:9000 -bucket wisp
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint HOST:PORT (required)")
	bucket := flag.String("bucket", "wisp", "bucket to create")
	region := flag.String("region", "us-east-1", "bucket region")
	secure := flag.Bool("secure", false, "use HTTPS")
	wait := flag.Duration("wait", 20*time.Second, "how long to keep trying while the server starts")
	flag.Parse()
	if err := run(*endpoint, *bucket, *region, *secure, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "mkbucket:", err)
		os.Exit(1)
	}
}

func run(endpoint, bucket, region string, secure bool, wait time.Duration) error {
	if endpoint == "" {
		return errors.New("-endpoint HOST:PORT is required")
	}
	access, secret := os.Getenv("WISP_S3_ACCESS_KEY"), os.Getenv("WISP_S3_SECRET_KEY")
	if access == "" || secret == "" {
		return errors.New("set WISP_S3_ACCESS_KEY and WISP_S3_SECRET_KEY")
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(access, secret, ""),
		Secure: secure,
		Region: region,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		err = client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
		resp := minio.ToErrorResponse(err)
		switch {
		case err == nil:
			fmt.Fprintf(os.Stderr, "mkbucket: created bucket %s at %s\n", bucket, endpoint)
			return nil
		case resp.Code == minio.BucketAlreadyOwnedByYou || resp.Code == minio.BucketAlreadyExists:
			return nil
		case resp.Code != "" && resp.StatusCode < 500:
			// The server answered with a real refusal (credentials, name):
			// waiting will not change it.
			return fmt.Errorf("create bucket %s at %s: %s: %w", bucket, endpoint, resp.Code, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create bucket %s at %s: gave up after %v: %w", bucket, endpoint, wait, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
