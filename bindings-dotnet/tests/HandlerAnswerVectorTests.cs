// Handler answer vectors: what a handler returns, as the status the app answers the sidecar.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using NUnit.Framework;

namespace DaprRs.Tests
{
    /// <summary>One [Topic] method per form of answer C# has; the event's data says which status,
    /// value or message it answers with.</summary>
    public sealed class AnswerSubscribers
    {
        [Topic(Sidecar.Pubsub, "answers-nothing", Route = "/answers/nothing")]
        public void Nothing() { }

        [Topic(Sidecar.Pubsub, "answers-nothing-async", Route = "/answers/nothing-async")]
        public async Task NothingAsync() { await Task.Yield(); }

        [Topic(Sidecar.Pubsub, "answers-status", Route = "/answers/status")]
        public TopicResponseAction Status(string status) { return StatusNamed(status); }

        [Topic(Sidecar.Pubsub, "answers-status-async", Route = "/answers/status-async")]
        public async Task<TopicResponseAction> StatusAsync(string status) { await Task.Yield(); return StatusNamed(status); }

        [Topic(Sidecar.Pubsub, "answers-value", Route = "/answers/value")]
        public TopicResponseAction Value(string number) { return (TopicResponseAction)int.Parse(number, CultureInfo.InvariantCulture); }

        [Topic(Sidecar.Pubsub, "answers-throws", Route = "/answers/throws")]
        public TopicResponseAction Throws(string message) { throw new InvalidOperationException(message); }

        [Topic(Sidecar.Pubsub, "answers-throws-async", Route = "/answers/throws-async")]
        public async Task<TopicResponseAction> ThrowsAsync(string message) { await Task.Yield(); throw new InvalidOperationException(message); }

        /// <summary>The TopicResponseAction a vector's status word names (SUCCESS → Success).</summary>
        private static TopicResponseAction StatusNamed(string status)
        {
            return (TopicResponseAction)Enum.Parse(typeof(TopicResponseAction), status, true);
        }
    }

    [TestFixture]
    public class HandlerAnswerVectorTests
    {
        private DaprApp app;
        private HttpClient http;

        public static IEnumerable<TestCaseData> Cases() { return Vectors.Cases("handler_answers.json", "cases", Vectors.ForCSharp); }

        [TestFixtureSetUp]
        public void Start()
        {
            // The HTTP app protocol: each answer is the reply the sidecar reads.
            app = new DaprApp(AppProtocol.Http).MapSubscribers(new AnswerSubscribers());
            app.Start(0);
            http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        }

        [TestFixtureTearDown]
        public void Stop()
        {
            if (http != null) http.Dispose();
            if (app != null)
            {
                app.StopAsync().Wait();
                app.Dispose();
            }
        }

        [TestCaseSource("Cases")]
        public async Task Handler_answer(Dictionary<string, object> c)
        {
            var answer = Vectors.Obj(c, "answer");
            string form, argument = "";
            if (answer.ContainsKey("nothing")) form = "nothing";
            else if (answer.ContainsKey("status")) { form = "status"; argument = (string)answer["status"]; }
            else if (answer.ContainsKey("value")) { form = "value"; argument = Convert.ToString(answer["value"], CultureInfo.InvariantCulture); }
            else if (answer.ContainsKey("throws")) { form = "throws"; argument = (string)answer["throws"]; }
            else throw new ArgumentException(c["name"] + ": no C# form for " + DaprJson.Serialize(answer));
            if (c.ContainsKey("async") && Equals(c["async"], true)) form += "-async";

            var cloudEvent = new Dictionary<string, object>
            {
                { "specversion", "1.0" }, { "id", "answer-1" }, { "source", "checkout" }, { "type", "com.dapr.event.sent" },
                { "datacontenttype", "text/plain" }, { "data", argument }, { "topic", "answers-" + form }, { "pubsubname", Sidecar.Pubsub },
            };
            var body = new StringContent(DaprJson.Serialize(cloudEvent), Encoding.UTF8, "application/cloudevents+json");
            using (var reply = await http.PostAsync("http://127.0.0.1:" + app.Port + "/answers/" + form, body))
            {
                Assert.AreEqual(200, (int)reply.StatusCode);
                var status = DaprJson.Deserialize<Dictionary<string, object>>(await reply.Content.ReadAsStringAsync())["status"];
                var byLanguage = c.ContainsKey("status_by_language") ? Vectors.Obj(c, "status_by_language") : new Dictionary<string, object>();
                var expected = byLanguage.ContainsKey(Vectors.Language) ? Vectors.Str(byLanguage[Vectors.Language], "status") : (string)c["status"];
                Assert.AreEqual(expected, status);
            }
        }
    }
}
