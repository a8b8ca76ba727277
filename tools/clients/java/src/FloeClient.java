// Command-line Kafka client on the official Java client (kafka-clients), for Floe's
// compatibility tests. The producer and consumer keep the client's default settings
// (idempotence on, acks=all, auto-commit on); only what a test must name is set.
// Same interface as every client in tools/clients:
//   produce      --bootstrap H:P --topic T --count N [--start S] [--partitions-hint P] [--rate R/s]
//                [--record-bytes B] [--latency true]   benchmarks: B bytes a record (a "pad" header
//                makes up the rest, key and value stay as below); with --latency each line also
//                has "t" (send time, epoch ms) and "ms" (send to ack), and the summary the
//                client's own retry and error counts
//   consume      --bootstrap H:P --topic T --group G --count N [--timeout-ms X]
//   create-topic --bootstrap H:P --topic T --partitions P
// Transactions (consume also takes --isolation read_committed|read_uncommitted):
//   txn-produce  --bootstrap H:P --topic T --transactional-id ID --count N [--start S]
//                [--txn-size K] [--abort-every M]   records in transactions of K; every M-th
//                transaction is aborted; only committed records are printed, after the commit
//   zombie       --bootstrap H:P --topic T --transactional-id ID   an old instance must be fenced
//   eos          --bootstrap H:P --topic IN --output OUT --group G --transactional-id ID --count N
//                [--timeout-ms X]   read-process-write, exactly once, across broker restarts
// stdout: one JSON line per acknowledged or consumed record {"p","o","k","v"}, then a summary
// line {"done":true,...}. Record i has key "k-i" and value "v-i". Diagnostics go to stderr.
// Exit code 0 only if every record was acknowledged (produce) or the command succeeded.
// Security (every command): --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL,
// --sasl-mechanism SCRAM-SHA-256|SCRAM-SHA-512|PLAIN, --username U --password P,
// --ca-file F (trusted CAs), --cert-file F --key-file F (client certificate), all PEM.
// Exit codes: 0 success, 1 other failure, 2 usage, 3 authentication failed (SASL or TLS),
// 4 authorization failed (an ACL said no).
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.TopicExistsException;
import java.util.ArrayList;
import java.util.concurrent.Future;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class FloeClient {
  private static final Set<String> OPTIONS =
      Set.of(
          "bootstrap", "topic", "count", "start", "partitions-hint", "group", "timeout-ms", "partitions", "rate",
          "record-bytes", "latency",
          "isolation", "rack", "transactional-id", "txn-size", "abort-every", "output",
          "security-protocol", "sasl-mechanism", "username", "password", "ca-file", "cert-file", "key-file");
  private static final int EXIT_AUTHENTICATION = 3;
  private static final int EXIT_AUTHORIZATION = 4;
  /** Bootstrap and security settings, shared by every client a command makes. */
  private static final Properties BASE = new Properties();

  public static void main(String[] argv) throws Exception {
    // slf4j-simple logs INFO by default; the client's INFO lines would drown real problems.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getenv().getOrDefault("FLOE_CLIENT_LOG_LEVEL", "warn"));
    if (argv.length == 0) fail("usage: FloeClient produce|consume|create-topic --bootstrap H:P --topic T ...");
    Map<String, String> a = parse(argv);
    BASE.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, need(a, "bootstrap"));
    security(a);
    int status;
    try {
      status =
          switch (argv[0]) {
            case "produce" -> produce(a);
            case "consume" -> consume(a);
            case "create-topic" -> createTopic(a);
            case "txn-produce" -> txnProduce(a);
            case "zombie" -> zombie(a);
            case "eos" -> eos(a);
            default -> fail("unknown command " + argv[0]);
          };
    } catch (Exception e) {
      System.out.flush();
      System.err.println(argv[0] + ": " + causes(e));
      status = exitCodeOf(e);
    }
    System.out.flush();
    System.exit(status);
  }

  /** The client's own security settings; certificates and keys are given to it as PEM text. */
  private static void security(Map<String, String> a) throws IOException {
    String protocol = a.getOrDefault("security-protocol", "PLAINTEXT");
    if (!Set.of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL").contains(protocol)) {
      fail("--security-protocol " + protocol + " is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL");
    }
    BASE.put("security.protocol", protocol);
    if (protocol.endsWith("SSL")) {
      if (a.containsKey("ca-file")) {
        BASE.put("ssl.truststore.type", "PEM");
        BASE.put("ssl.truststore.certificates", Files.readString(Path.of(a.get("ca-file"))));
      }
      if (a.containsKey("cert-file") != a.containsKey("key-file")) fail("--cert-file and --key-file go together");
      if (a.containsKey("cert-file")) {
        BASE.put("ssl.keystore.type", "PEM");
        BASE.put("ssl.keystore.certificate.chain", Files.readString(Path.of(a.get("cert-file"))));
        BASE.put("ssl.keystore.key", Files.readString(Path.of(a.get("key-file"))));
      }
    }
    if (protocol.startsWith("SASL")) {
      String mechanism = a.getOrDefault("sasl-mechanism", "SCRAM-SHA-512");
      String module =
          switch (mechanism) {
            case "SCRAM-SHA-256", "SCRAM-SHA-512" -> "org.apache.kafka.common.security.scram.ScramLoginModule";
            case "PLAIN" -> "org.apache.kafka.common.security.plain.PlainLoginModule";
            default -> {
              fail("--sasl-mechanism " + mechanism + " is not supported");
              yield "";
            }
          };
      BASE.put("sasl.mechanism", mechanism);
      BASE.put(
          "sasl.jaas.config",
          module + " required username=" + jaasQuote(need(a, "username")) + " password=" + jaasQuote(need(a, "password")) + ";");
    }
  }

  private static String jaasQuote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  /** Walks the cause chain: a refused login or handshake is 3, an ACL's refusal 4. */
  private static int exitCodeOf(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof AuthenticationException) return EXIT_AUTHENTICATION;
      if (t instanceof AuthorizationException) return EXIT_AUTHORIZATION;
    }
    return 1;
  }

  /** The client's wrappers hide the reason (e.g. "SSL handshake failed"); the chain names it. */
  private static String causes(Throwable e) {
    StringBuilder b = new StringBuilder(e.toString());
    for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) b.append(" <- ").append(t);
    return b.toString();
  }

  private static Properties props() {
    Properties p = new Properties();
    p.putAll(BASE);
    return p;
  }

  private static Map<String, String> parse(String[] argv) {
    Map<String, String> a = new HashMap<>();
    for (int i = 1; i < argv.length; i++) {
      String name = argv[i].startsWith("--") ? argv[i].substring(2) : "";
      if (!OPTIONS.contains(name)) fail("unknown option " + argv[i]);
      if (i + 1 >= argv.length) fail("option " + argv[i] + " needs a value");
      a.put(name, argv[++i]);
    }
    return a;
  }

  private static int fail(String message) {
    System.err.println(message);
    System.exit(2);
    return 2;
  }

  private static String need(Map<String, String> a, String name) {
    String v = a.get(name);
    if (v == null) fail("--" + name + " is required");
    return v;
  }

  private static int intOpt(Map<String, String> a, String name, int fallback) {
    String v = a.get(name);
    return v == null ? fallback : Integer.parseInt(v);
  }

  private static String str(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }

  private static synchronized void record(int partition, long offset, String key, String value) {
    System.out.println("{\"p\":" + partition + ",\"o\":" + offset + ",\"k\":" + str(key) + ",\"v\":" + str(value) + "}");
  }

  private static synchronized void timedRecord(int partition, long offset, String key, String value, long sentAtMs, double ackMs) {
    System.out.println("{\"p\":" + partition + ",\"o\":" + offset + ",\"k\":" + str(key) + ",\"v\":" + str(value) + ",\"t\":" + sentAtMs + ",\"ms\":" + String.format("%.2f", ackMs) + "}");
  }

  /** A producer metric's value (e.g. record-retry-total), or -1 if the client has none by that name. */
  private static double producerMetric(KafkaProducer<?, ?> producer, String name) {
    for (var e : producer.metrics().entrySet()) {
      if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) return ((Number) e.getValue().metricValue()).doubleValue();
    }
    return -1;
  }

  private static int produce(Map<String, String> a) throws Exception {
    String bootstrap = need(a, "bootstrap");
    String topic = need(a, "topic");
    int count = Integer.parseInt(need(a, "count"));
    int start = intOpt(a, "start", 0);
    // Records per second (0: as fast as the client goes), for load that lasts through a test's events.
    int rate = intOpt(a, "rate", 0);
    int recordBytes = intOpt(a, "record-bytes", 0);
    boolean latency = "true".equals(a.get("latency"));
    long begun = System.nanoTime();
    if (a.containsKey("partitions-hint")) ensureTopic(bootstrap, topic, Integer.parseInt(a.get("partitions-hint")));

    Properties p = props();
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "floe-java-producer");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    AtomicInteger acked = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    AtomicReference<Exception> firstError = new AtomicReference<>();
    String summaryExtra = "";
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = start; i < start + count; i++) {
        String key = "k-" + i;
        String value = "v-" + i;
        if (rate > 0) {
          long due = begun + (long) ((i - start) * (1e9 / rate));
          long wait = due - System.nanoTime();
          if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
        ProducerRecord<String, String> rec = new ProducerRecord<>(topic, key, value);
        int pad = recordBytes - key.length() - value.length();
        if (pad > 0) rec.headers().add("pad", new byte[pad]);
        long sentAtMs = System.currentTimeMillis();
        long sentNs = System.nanoTime();
        producer.send(
            rec,
            (md, err) -> {
              if (err != null) {
                failed.incrementAndGet();
                firstError.compareAndSet(null, err);
              } else {
                if (latency) timedRecord(md.partition(), md.offset(), key, value, sentAtMs, (System.nanoTime() - sentNs) / 1e6);
                else record(md.partition(), md.offset(), key, value);
                acked.incrementAndGet();
              }
            });
      }
      producer.flush();
      if (latency) summaryExtra = ",\"retries\":" + (long) producerMetric(producer, "record-retry-total") + ",\"errors\":" + (long) producerMetric(producer, "record-error-total");
    }
    System.out.println("{\"done\":true,\"acked\":" + acked.get() + ",\"failed\":" + failed.get() + summaryExtra + "}");
    if (firstError.get() != null) {
      System.err.println("produce failed for " + failed.get() + " records; first error: " + causes(firstError.get()));
      return exitCodeOf(firstError.get());
    }
    return 0;
  }

  private static int consume(Map<String, String> a) {
    Properties p = props();
    p.put(ConsumerConfig.GROUP_ID_CONFIG, need(a, "group"));
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "floe-java-consumer");
    // A new group reads the topic from its start; an existing group resumes from its commits.
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    if (a.containsKey("isolation")) p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, a.get("isolation"));
    // client.rack: with a broker in the same zone, catch-up reads are served there (KIP-392).
    if (a.containsKey("rack")) p.put(ConsumerConfig.CLIENT_RACK_CONFIG, a.get("rack"));
    String topic = need(a, "topic");
    int count = Integer.parseInt(need(a, "count"));
    long deadline = System.currentTimeMillis() + intOpt(a, "timeout-ms", 60_000);
    int seen = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      while (seen < count && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          record(r.partition(), r.offset(), r.key(), r.value());
          seen++;
        }
      }
      // Everything printed above was returned by poll(), so the positions committed here
      // cover exactly what was printed. Synchronous: the commit is durable before exit.
      consumer.commitSync(Duration.ofSeconds(30));
    }
    System.out.println("{\"done\":true,\"consumed\":" + seen + "}");
    return 0;
  }

  private static void ensureTopic(String bootstrap, String topic, int partitions) throws Exception {
    try {
      create(bootstrap, topic, partitions);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) throw e;
    }
  }

  private static void create(String bootstrap, String topic, int partitions) throws Exception {
    Properties p = props();
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "floe-java-admin");
    try (Admin admin = Admin.create(p)) {
      admin.createTopics(List.of(new NewTopic(topic, Optional.of(partitions), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
    }
  }

  private static int createTopic(Map<String, String> a) throws Exception {
    create(need(a, "bootstrap"), need(a, "topic"), Integer.parseInt(need(a, "partitions")));
    System.out.println("{\"done\":true}");
    return 0;
  }

  private static KafkaProducer<String, String> txnProducer(String bootstrap, String transactionalId, String clientId) {
    Properties p = new Properties();
    p.putAll(BASE);
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(p);
  }

  private static int txnProduce(Map<String, String> a) throws Exception {
    String topic = need(a, "topic");
    int count = Integer.parseInt(need(a, "count"));
    int start = intOpt(a, "start", 0);
    int size = intOpt(a, "txn-size", 10);
    int abortEvery = intOpt(a, "abort-every", 0);
    int committed = 0;
    int aborted = 0;
    try (KafkaProducer<String, String> producer = txnProducer(need(a, "bootstrap"), need(a, "transactional-id"), "floe-java-txn-producer")) {
      producer.initTransactions();
      for (int t = 0, i = start; i < start + count; t++) {
        producer.beginTransaction();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        List<Integer> ids = new ArrayList<>();
        for (int n = 0; n < size && i < start + count; n++, i++) {
          sent.add(producer.send(new ProducerRecord<>(topic, "k-" + i, "v-" + i)));
          ids.add(i);
        }
        if (abortEvery > 0 && (t + 1) % abortEvery == 0) {
          producer.flush();
          producer.abortTransaction();
          aborted += ids.size();
          continue;
        }
        producer.commitTransaction();
        for (int n = 0; n < ids.size(); n++) {
          RecordMetadata md = sent.get(n).get();
          record(md.partition(), md.offset(), "k-" + ids.get(n), "v-" + ids.get(n));
        }
        committed += ids.size();
      }
    }
    System.out.println("{\"done\":true,\"committed\":" + committed + ",\"aborted\":" + aborted + "}");
    return 0;
  }

  /**
   * Instance A opens a transaction and writes; instance B with the same transactional id
   * starts (which fences A and aborts its transaction) and commits one record; A's commit
   * must fail with ProducerFencedException. Prints B's record.
   */
  private static int zombie(Map<String, String> a) throws Exception {
    String bootstrap = need(a, "bootstrap");
    String topic = need(a, "topic");
    String id = need(a, "transactional-id");
    String error = "none";
    boolean fenced = false;
    try (KafkaProducer<String, String> zombie = txnProducer(bootstrap, id, "floe-java-zombie");
        KafkaProducer<String, String> fresh = txnProducer(bootstrap, id, "floe-java-fresh")) {
      zombie.initTransactions();
      zombie.beginTransaction();
      zombie.send(new ProducerRecord<>(topic, "k-zombie", "v-zombie")).get();
      fresh.initTransactions();
      fresh.beginTransaction();
      RecordMetadata md = fresh.send(new ProducerRecord<>(topic, "k-0", "v-0")).get();
      fresh.commitTransaction();
      record(md.partition(), md.offset(), "k-0", "v-0");
      try {
        zombie.send(new ProducerRecord<>(topic, "k-zombie2", "v-zombie2")).get();
        zombie.commitTransaction();
      } catch (Exception e) {
        Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        error = c.getClass().getSimpleName();
        fenced = c instanceof ProducerFencedException || c instanceof InvalidProducerEpochException;
      }
    }
    System.out.println("{\"done\":true,\"fenced\":" + fenced + ",\"error\":" + str(error) + "}");
    return fenced ? 0 : 1;
  }

  /**
   * Exactly-once read-process-write: each poll's records are copied to the output topic in
   * one transaction that also carries the consumer's offsets. Any failure other than being
   * fenced (a broker restart) closes both clients and starts over from the committed
   * offsets; InitProducerId aborts whatever the previous instance left open. Stops once the
   * group's committed offsets reach the end of every input partition (holding at least
   * `count` records). Prints each output record once its transaction committed (a commit
   * whose answer was lost to a crash is not printed: the checker reads the output topic).
   */
  private static int eos(Map<String, String> a) throws Exception {
    String bootstrap = need(a, "bootstrap");
    String input = need(a, "topic");
    String output = need(a, "output");
    String group = need(a, "group");
    String id = need(a, "transactional-id");
    int count = Integer.parseInt(need(a, "count"));
    long deadline = System.currentTimeMillis() + intOpt(a, "timeout-ms", 300_000);
    int done = 0;
    int restarts = 0;
    boolean finished = false;
    while (!finished && System.currentTimeMillis() < deadline) {
      Properties c = new Properties();
      c.putAll(BASE);
      c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      c.put(ConsumerConfig.CLIENT_ID_CONFIG, "floe-java-eos-consumer");
      c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c);
          KafkaProducer<String, String> producer = txnProducer(bootstrap, id, "floe-java-eos-producer")) {
        producer.initTransactions();
        consumer.subscribe(List.of(input));
        while (System.currentTimeMillis() < deadline) {
          ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(200));
          if (polled.isEmpty()) {
            if (caughtUp(consumer, input, count)) {
              finished = true;
              break;
            }
            continue;
          }
          producer.beginTransaction();
          List<Future<RecordMetadata>> sent = new ArrayList<>();
          List<ConsumerRecord<String, String>> in = new ArrayList<>();
          Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
          for (ConsumerRecord<String, String> r : polled) {
            sent.add(producer.send(new ProducerRecord<>(output, r.key(), r.value())));
            in.add(r);
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
          }
          producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
          producer.commitTransaction();
          for (int n = 0; n < in.size(); n++) {
            RecordMetadata md = sent.get(n).get();
            record(md.partition(), md.offset(), in.get(n).key(), in.get(n).value());
          }
          done += in.size();
        }
      } catch (ProducerFencedException e) {
        System.err.println("eos: fenced: " + e);
        return 1;
      } catch (KafkaException | ExecutionException e) {
        // The broker went away mid-transaction: whatever was not committed is aborted by the
        // next instance's InitProducerId, and the consumer resumes from the committed offsets.
        restarts++;
        System.err.println("eos: restarting after " + e);
        Thread.sleep(500);
      }
    }
    System.out.println("{\"done\":true,\"processed\":" + done + ",\"restarts\":" + restarts + ",\"finished\":" + finished + "}");
    return finished ? 0 : 1;
  }

  /** Whether the group's committed offsets are at the end of every partition of `topic`, which holds at least `count` records. */
  private static boolean caughtUp(KafkaConsumer<String, String> consumer, String topic, int count) {
    List<TopicPartition> tps = new ArrayList<>();
    consumer.partitionsFor(topic).forEach((pi) -> tps.add(new TopicPartition(topic, pi.partition())));
    Map<TopicPartition, Long> end = consumer.endOffsets(tps);
    Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new java.util.HashSet<>(tps));
    long total = 0;
    for (TopicPartition tp : tps) {
      long e = end.get(tp);
      total += e;
      OffsetAndMetadata c = committed.get(tp);
      if (e > 0 && (c == null || c.offset() < e)) return false;
    }
    return total >= count;
  }
}
