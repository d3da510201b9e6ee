export {
  createStatusTrackerClient,
  type ClientOptions,
  type StatusTrackerClient,
  type StreamOptions,
  type UpdateOptions,
} from './client'
export { StatusTrackerError, StatusTrackerNetworkError } from './errors'
export type { ApiCall, ApiResult, Fetch, RequestOptions, ResponseInfo, WriteOptions } from './http'
export { backoffDelay, DEFAULT_RETRY_POLICY, type Backoff, type RetryPolicy } from './retry'
export type {
  SocketIoOptions,
  Subscription,
  SubscriptionHandlers,
  SubscriptionMessage,
  SubscriptionSelector,
  Watch,
} from './subscription'
export type * from './types'
