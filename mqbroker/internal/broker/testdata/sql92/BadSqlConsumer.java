// Starts a push consumer with the SQL92 selector given as the first argument and prints whether
// the broker accepted it (CHECK_CLIENT_CONFIG), for mqbroker's golden frames.
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;

public class BadSqlConsumer {
    public static void main(String[] args) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(args.length > 1 ? args[1] : "bad_sql_group");
        c.subscribe("SqlFilterTest", MessageSelector.bySql(args[0]));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
        try {
            c.start();
            System.out.println("started");
        } catch (Exception e) {
            System.out.println("start failed: " + e.getMessage());
        }
        c.shutdown();
    }
}
