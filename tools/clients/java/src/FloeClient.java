// A command-line Kafka client on the official Java client, with its default settings,
// for Floe's compatibility tests. Same interface as the other clients in tools/clients:
//   produce --bootstrap B --topic T --count N [--start S]
//   consume --bootstrap B --topic T --group G --count N --timeout-ms X
//   create-topic --bootstrap B --topic T --partitions P
// One JSON line per acknowledged or consumed record, then a summary line.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.*;

public class FloeClient {
  public static void main(String[] argv) throws Exception {
    if (argv.length == 0) usage();
    Map<String, String> a = new HashMap<>();
    for (int i = 1; i + 1 < argv.length; i += 2) a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    switch (argv[0]) {
      case "produce" -> produce(a);
      case "consume" -> consume(a);
      case "create-topic" -> createTopic(a);
      default -> usage();
    }
  }

  static void usage() {
    System.err.println("usage: FloeClient produce|consume|create-topic --bootstrap host:port --topic T ...");
    System.exit(2);
  }

  static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  static void produce(Map<String, String> a) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    int count = Integer.parseInt(a.get("count"));
    int start = Integer.parseInt(a.getOrDefault("start", "0"));
    String topic = a.get("topic");
    int acked = 0;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      List<Integer> ids = new ArrayList<>();
      for (int i = start; i < start + count; i++) {
        sent.add(producer.send(new ProducerRecord<>(topic, "k-" + i, "v-" + i)));
        ids.add(i);
      }
      producer.flush();
      for (int j = 0; j < sent.size(); j++) {
        RecordMetadata md = sent.get(j).get(60, TimeUnit.SECONDS);
        int i = ids.get(j);
        System.out.println("{\"p\":" + md.partition() + ",\"o\":" + md.offset() + ",\"k\":" + json("k-" + i) + ",\"v\":" + json("v-" + i) + "}");
        acked++;
      }
    }
    System.out.println("{\"done\":true,\"acked\":" + acked + "}");
  }

  static void consume(Map<String, String> a) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    p.put(ConsumerConfig.GROUP_ID_CONFIG, a.get("group"));
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    int count = Integer.parseInt(a.get("count"));
    long deadline = System.currentTimeMillis() + Long.parseLong(a.getOrDefault("timeout-ms", "60000"));
    int seen = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(a.get("topic")));
      while (seen < count && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          System.out.println("{\"p\":" + r.partition() + ",\"o\":" + r.offset() + ",\"k\":" + json(r.key()) + ",\"v\":" + json(r.value()) + "}");
          seen++;
        }
      }
      consumer.commitSync(Duration.ofSeconds(30));
    }
    System.out.println("{\"done\":true,\"consumed\":" + seen + "}");
  }

  static void createTopic(Map<String, String> a) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
    try (Admin admin = Admin.create(p)) {
      admin.createTopics(List.of(new NewTopic(a.get("topic"), Optional.of(Integer.parseInt(a.get("partitions"))), Optional.empty()))).all().get(60, TimeUnit.SECONDS);
    }
    System.out.println("{\"done\":true}");
  }
}
