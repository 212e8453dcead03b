import io.daprrs.DaprApp;
import io.daprrs.Topic;
import io.daprrs.core.Event;

/** The quickstart's subscriber: serves topic `orders` of `order_pub_sub` on app port 6002 (gRPC). */
public class CheckoutService {
    @Topic(name = "orders", pubsubName = "order_pub_sub")
    public void onOrder(Event event) {
        System.out.println("Subscriber received: " + event.getText());
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("APP_PORT", "6002"));
        DaprApp app = DaprApp.builder().port(port).protocol("grpc").register(new CheckoutService()).start();
        // `dapr-rs run` stops the app with SIGTERM: answer what is in flight, then exit.
        Runtime.getRuntime().addShutdownHook(new Thread(app::close));
        System.out.println("CheckoutService listening on port " + app.port());
        app.awaitTermination();
    }
}
