export { crc64, crc64Mod, crc64Parts } from "./crc64.ts";
export { checkHashKey, decodeKey, encodeKey, hashKeyPrefix, partitionIndex } from "./key-schema.ts";
export * from "./mutation.ts";
export {
  decodeMutation,
  encodedMutationBytes,
  encodedUpdateBytes,
  encodeMutation,
  MUTATION_FORMAT_VERSION,
} from "./mutation-codec.ts";
export * from "./timetag.ts";
export * from "./value-schema.ts";
