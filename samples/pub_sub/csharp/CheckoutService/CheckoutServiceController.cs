// The Dapr pub/sub quickstart's C# subscriber on DaprRs: the same [Topic] method, hosted by DaprApp
// instead of an ASP.NET controller.
using System;
using DaprRs;

namespace CheckoutService.controller
{
    public class CheckoutServiceController
    {
        [Topic("order_pub_sub", "orders")]
        public void getCheckout(int orderId)
        {
            Console.WriteLine("Subscriber received : " + orderId);
        }
    }
}
