// minio-admin: creates a MinIO user with a canned policy through the admin API
// (madmin-go). Usage: minio-admin ENDPOINT_HOSTPORT POLICY_NAME POLICY_FILE USER SECRET
// Root credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/minio/madmin-go/v3"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: minio-admin HOST:PORT POLICY_NAME POLICY_FILE USER SECRET")
		os.Exit(2)
	}
	host, policyName, policyFile, user, secret := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	client, err := madmin.New(host, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), false)
	if err != nil {
		panic(err)
	}
	policy, err := os.ReadFile(policyFile)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := client.AddCannedPolicy(ctx, policyName, policy); err != nil {
		fmt.Fprintln(os.Stderr, "AddCannedPolicy:", err)
		os.Exit(1)
	}
	if err := client.AddUser(ctx, user, secret); err != nil {
		fmt.Fprintln(os.Stderr, "AddUser:", err)
		os.Exit(1)
	}
	if _, err := client.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{policyName}, User: user}); err != nil {
		fmt.Fprintln(os.Stderr, "AttachPolicy:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
