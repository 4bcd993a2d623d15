// The CloudEvents the fan-outs receive (fanout-events.ts): an object finalized
// in the images bucket, a message on the requests topic. The copy function
// takes Pub/Sub's push body itself (job-push.ts).

/** `google.cloud.storage.object.v1.finalized` data (the fields used here). */
export interface StorageObjectData {
  readonly bucket?: string;
  readonly name?: string;
  readonly generation?: string | number;
}

/** `google.cloud.pubsub.topic.v1.messagePublished` data. */
export interface MessagePublishedData {
  readonly message?: {
    readonly data?: string;
    readonly attributes?: Readonly<Record<string, string>>;
    readonly messageId?: string;
  };
}

export interface Event<T> {
  readonly id?: string;
  readonly data?: T;
}
