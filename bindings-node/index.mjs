// ESM entry of dapr-rs: the same objects as the CommonJS entry (index.js).
import dapr from './index.js';

export const {
  CommunicationProtocolEnum,
  DaprClient,
  DaprError,
  DaprPubSubStatusEnum,
  DaprServer,
  StreamMessage,
  StreamSubscription,
} = dapr;
export default dapr;
