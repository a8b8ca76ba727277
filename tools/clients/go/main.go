// Command floe-franz is a command-line Kafka client on franz-go, for Floe's compatibility
// tests. Producer and consumer keep franz-go's default settings (idempotent, acks=all,
// sticky key partitioner, auto-commit on); only what a test must name is set.
// Same interface as every client in tools/clients:
//
//	produce      --bootstrap H:P --topic T --count N [--start S] [--partitions-hint P]
//	consume      --bootstrap H:P --topic T --group G --count N [--timeout-ms X]
//	create-topic --bootstrap H:P --topic T --partitions P
//
// Transactions (consume also takes --isolation read_committed|read_uncommitted):
//
//	txn-produce  --bootstrap H:P --topic T --transactional-id ID --count N [--start S]
//	             [--txn-size K] [--abort-every M]   transactions of K records, every M-th aborted;
//	             only committed records are printed, after their commit
//	zombie       --bootstrap H:P --topic T --transactional-id ID   an old instance must be fenced
//
// stdout: one JSON line per acknowledged or consumed record {"p","o","k","v"}, then a summary
// line {"done":true,...}. Record i has key "k-i" and value "v-i". Diagnostics go to stderr.
// Exit code 0 only if every record was acknowledged (produce) or the command succeeded.
//
// Security (every command): --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL,
// --sasl-mechanism SCRAM-SHA-256|SCRAM-SHA-512|PLAIN, --username U --password P,
// --ca-file F (trusted CAs), --cert-file F --key-file F (client certificate).
// Exit codes: 0 success, 1 other failure, 2 usage, 3 authentication failed (SASL or TLS),
// 4 authorization failed (an ACL said no).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	exitAuthentication = 3
	exitAuthorization  = 4
)

// base holds the options every client the command makes shares: seeds and security.
var base []kgo.Opt

type record struct {
	P int32  `json:"p"`
	O int64  `json:"o"`
	K string `json:"k"`
	V string `json:"v"`
}

var (
	stdout   = bufio.NewWriter(os.Stdout)
	stdoutMu sync.Mutex
)

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	stdout.Write(b)
	stdout.WriteByte('\n')
}

type options struct {
	bootstrap, topic, group        string
	count, start, partitions, hint int
	timeout                        time.Duration
	isolation, transactionalID     string
	txnSize, abortEvery            int
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floe-franz produce|consume|create-topic --bootstrap H:P --topic T ...")
		os.Exit(2)
	}
	var o options
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.StringVar(&o.bootstrap, "bootstrap", "", "host:port of a broker")
	fs.StringVar(&o.topic, "topic", "", "topic")
	fs.StringVar(&o.group, "group", "", "consumer group")
	fs.IntVar(&o.count, "count", 0, "records to produce or consume")
	fs.IntVar(&o.start, "start", 0, "index of the first produced record")
	fs.IntVar(&o.partitions, "partitions", 0, "partitions of the created topic")
	fs.IntVar(&o.hint, "partitions-hint", 0, "produce: create the topic with this many partitions if it is missing")
	timeoutMs := fs.Int("timeout-ms", 60000, "consume: give up after this long")
	protocol := fs.String("security-protocol", "PLAINTEXT", "PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL")
	mechanism := fs.String("sasl-mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256|SCRAM-SHA-512|PLAIN")
	username := fs.String("username", "", "SASL user")
	password := fs.String("password", "", "SASL password")
	caFile := fs.String("ca-file", "", "PEM file of the CAs to trust")
	certFile := fs.String("cert-file", "", "PEM client certificate (mutual TLS)")
	keyFile := fs.String("key-file", "", "PEM key of the client certificate")
	fs.StringVar(&o.isolation, "isolation", "", "consume: read_committed or read_uncommitted")
	fs.StringVar(&o.transactionalID, "transactional-id", "", "txn-produce, zombie: the transactional id")
	fs.IntVar(&o.txnSize, "txn-size", 10, "txn-produce: records per transaction")
	fs.IntVar(&o.abortEvery, "abort-every", 0, "txn-produce: abort every M-th transaction (0: none)")
	_ = fs.Parse(os.Args[2:])
	o.timeout = time.Duration(*timeoutMs) * time.Millisecond
	if o.bootstrap == "" || o.topic == "" {
		fmt.Fprintln(os.Stderr, "--bootstrap and --topic are required")
		os.Exit(2)
	}
	security, err := securityOpts(*protocol, *mechanism, *username, *password, *caFile, *certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	base = append([]kgo.Opt{
		// A comma-separated list, as every Kafka client takes it.
		kgo.SeedBrokers(strings.Split(o.bootstrap, ",")...),
		// franz-go logs nothing by default; its warnings are the diagnostics a failed run needs.
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)),
	}, security...)

	switch os.Args[1] {
	case "produce":
		err = produce(o)
	case "consume":
		err = consume(o)
	case "txn-produce":
		err = txnProduce(o)
	case "zombie":
		err = zombie(o)
	case "create-topic":
		err = createTopic(o.bootstrap, o.topic, o.partitions, false)
		if err == nil {
			emit(map[string]any{"done": true})
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	stdoutMu.Lock()
	stdout.Flush()
	stdoutMu.Unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(exitCodeOf(err))
	}
}

func securityOpts(protocol, mechanism, username, password, caFile, certFile, keyFile string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch protocol {
	case "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		// crypto/tls's defaults: TLS 1.2+, the system roots unless a CA file is given.
		config := &tls.Config{}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, err
			}
			config.RootCAs = x509.NewCertPool()
			if !config.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
			}
		}
		if certFile != "" || keyFile != "" {
			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			config.Certificates = []tls.Certificate{pair}
		}
		// DialTLSConfig sets ServerName from each broker's host, as the other clients verify it.
		opts = append(opts, kgo.DialTLSConfig(config))
	default:
		return nil, fmt.Errorf("--security-protocol %s is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", protocol)
	}
	if protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL" {
		if username == "" {
			return nil, fmt.Errorf("%s needs --username and --password", protocol)
		}
		auth := scram.Auth{User: username, Pass: password}
		switch mechanism {
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: username, Pass: password}.AsMechanism()))
		default:
			return nil, fmt.Errorf("--sasl-mechanism %s is not supported", mechanism)
		}
	}
	return opts, nil
}

// newClient makes a client and checks that a broker lets it in. franz-go retries a refused
// login or TLS handshake for as long as records may wait (forever by default), so without
// this check a wrong password would hang the command; other failures are left to the client.
func newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil && isAuthError(err) {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// exitCodeOf sorts a failure into the exit codes the tests tell apart.
func exitCodeOf(err error) int {
	var kafkaErr *kerr.Error
	if errors.As(err, &kafkaErr) {
		switch kafkaErr.Code {
		case kerr.SaslAuthenticationFailed.Code, kerr.IllegalSaslState.Code, kerr.UnsupportedSaslMechanism.Code:
			return exitAuthentication
		case kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code,
			kerr.TransactionalIDAuthorizationFailed.Code, kerr.DelegationTokenAuthorizationFailed.Code:
			return exitAuthorization
		}
	}
	if isTLSFailure(err) {
		return exitAuthentication
	}
	return 1
}

// isTLSFailure: a certificate this client refused, or an alert the broker sent during the handshake.
func isTLSFailure(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verification *tls.CertificateVerificationError
	var alert tls.AlertError
	var recordHeader tls.RecordHeaderError
	return errors.As(err, &unknownAuthority) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verification) || errors.As(err, &alert) || errors.As(err, &recordHeader)
}

// isAuthError: a refused login, TLS handshake or ACL, which retrying will not cure.
func isAuthError(err error) bool {
	code := exitCodeOf(err)
	return code == exitAuthentication || code == exitAuthorization
}

func produce(o options) error {
	if o.hint > 0 {
		if err := createTopic(o.bootstrap, o.topic, o.hint, true); err != nil {
			return err
		}
	}
	cl, err := newClient(append(base, kgo.ClientID("floe-franz-producer"), kgo.DefaultProduceTopic(o.topic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		mu       sync.Mutex
		acked    int
		failed   int
		firstErr error
	)
	for i := o.start; i < o.start+o.count; i++ {
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "v-%d", i)}
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			acked++
			emit(record{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
		})
	}
	// Flush waits for every promise above to have run.
	if err := cl.Flush(context.Background()); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	emit(map[string]any{"done": true, "acked": acked, "failed": failed})
	if firstErr != nil {
		return fmt.Errorf("%d records failed, first: %w", failed, firstErr)
	}
	return nil
}

func consume(o options) error {
	if o.group == "" {
		return errors.New("consume needs --group")
	}
	opts := append(append([]kgo.Opt{}, base...),
		kgo.ClientID("floe-franz-consumer"),
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		// A new group reads the topic from its start (franz-go's default too, said out loud).
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	switch o.isolation {
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	case "", "read_uncommitted":
	default:
		return fmt.Errorf("unknown --isolation %q", o.isolation)
	}
	cl, err := newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	seen := 0
	var fatal error
	for seen < o.count && ctx.Err() == nil && fatal == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(t string, p int32, err error) {
			if isAuthError(err) && fatal == nil {
				// A group or topic the ACLs refuse, or a refused login: franz-go would keep
				// retrying, so the command stops here.
				fatal = fmt.Errorf("%s/%d: %w", t, p, err)
			} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "consume: %s/%d: %v\n", t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			emit(record{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
			seen++
		})
	}
	if fatal != nil {
		return fatal
	}
	// Every record printed above came from PollFetches, so committing what was polled covers
	// exactly what was printed; synchronous, so it is durable before exit.
	commitCtx, commitCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer commitCancel()
	if err := cl.CommitUncommittedOffsets(commitCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	emit(map[string]any{"done": true, "consumed": seen})
	return nil
}

func createTopic(bootstrap, topic string, partitions int, existOK bool) error {
	if partitions <= 0 {
		return errors.New("create-topic needs --partitions")
	}
	cl, err := newClient(append(base, kgo.ClientID("floe-franz-admin"))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if existOK && errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

func txnClient(o options, clientID string) (*kgo.Client, error) {
	if o.transactionalID == "" {
		return nil, errors.New("needs --transactional-id")
	}
	return kgo.NewClient(append(append([]kgo.Opt{}, base...), kgo.ClientID(clientID), kgo.DefaultProduceTopic(o.topic), kgo.TransactionalID(o.transactionalID))...)
}

func txnProduce(o options) error {
	cl, err := txnClient(o, "floe-franz-txn-producer")
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := context.Background()
	committed, aborted := 0, 0
	for t, i := 1, o.start; i < o.start+o.count; t++ {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		var recs []*kgo.Record
		for ; len(recs) < o.txnSize && i < o.start+o.count; i++ {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "v-%d", i)})
		}
		// ProduceSync returns once every record is acknowledged: nothing is buffered at the end.
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		abort := o.abortEvery > 0 && t%o.abortEvery == 0
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(!abort)); err != nil {
			return err
		}
		if abort {
			aborted += len(recs)
			continue
		}
		for _, r := range recs {
			emit(record{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
		}
		committed += len(recs)
	}
	emit(map[string]any{"done": true, "committed": committed, "aborted": aborted})
	return nil
}

// zombie: instance A writes in an open transaction; instance B with the same id starts (which
// fences A and aborts its transaction) and commits one record; A must then be refused as
// fenced. Prints B's record.
func zombie(o options) error {
	ctx := context.Background()
	old, err := txnClient(o, "floe-franz-zombie")
	if err != nil {
		return err
	}
	defer old.Close()
	if err := old.BeginTransaction(); err != nil {
		return err
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Key: []byte("k-zombie"), Value: []byte("v-zombie")}).FirstErr(); err != nil {
		return err
	}
	fresh, err := txnClient(o, "floe-franz-fresh")
	if err != nil {
		return err
	}
	defer fresh.Close()
	if err := fresh.BeginTransaction(); err != nil {
		return err
	}
	r := &kgo.Record{Key: []byte("k-0"), Value: []byte("v-0")}
	if err := fresh.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return err
	}
	emit(record{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
	refusal := old.ProduceSync(ctx, &kgo.Record{Key: []byte("k-zombie2"), Value: []byte("v-zombie2")}).FirstErr()
	if refusal == nil {
		refusal = old.EndTransaction(ctx, kgo.TryCommit)
	}
	fenced := errors.Is(refusal, kerr.ProducerFenced) || errors.Is(refusal, kerr.InvalidProducerEpoch)
	fmt.Fprintf(os.Stderr, "zombie: old instance refused: %v\n", refusal)
	emit(map[string]any{"done": true, "fenced": fenced, "error": fmt.Sprint(refusal)})
	if !fenced {
		return fmt.Errorf("the old instance was not fenced: %v", refusal)
	}
	return nil
}
