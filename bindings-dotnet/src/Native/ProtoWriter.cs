// A protobuf encoder for the bridge's requests (native/proto/dapr_rs_bridge.proto): only the wire
// types they use (varint and length-delimited). A message is written in two passes, measured and
// then written into one array of its exact size, so a payload is copied once: into the request.
using System;
using System.Collections.Generic;
using System.Text;

namespace DaprRs.Native
{
    internal sealed class ProtoWriter
    {
        private const int VarintType = 0;
        private const int LengthDelimitedType = 2;
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        // Null while measuring: only the position moves.
        private readonly byte[] buffer;
        private int position;

        private ProtoWriter(byte[] buffer)
        {
            this.buffer = buffer;
        }

        /// <summary>The encoding of the message <paramref name="write"/> writes (it runs twice: to measure, then to write).</summary>
        internal static byte[] Encode(Action<ProtoWriter> write)
        {
            var writer = new ProtoWriter(new byte[Measure(write)]);
            write(writer);
            return writer.buffer;
        }

        private static int Measure(Action<ProtoWriter> write)
        {
            var measuring = new ProtoWriter(null);
            write(measuring);
            return measuring.position;
        }

        /// <summary>proto3's int32 or enum field: 0 is the default, not written.</summary>
        internal void Int32(int field, int value)
        {
            if (value != 0) PresentInt32(field, value);
        }

        /// <summary>An int32 written even when 0 (a oneof member: its presence is what it says).</summary>
        internal void PresentInt32(int field, int value)
        {
            Tag(field, VarintType);
            // A negative int32 is the ten-byte varint of its 64-bit two's complement, as protobuf has it.
            Varint((ulong)(long)value);
        }

        /// <summary>proto3's uint64 field: 0 is the default, not written.</summary>
        internal void UInt64(int field, ulong value)
        {
            if (value == 0) return;
            Tag(field, VarintType);
            Varint(value);
        }

        /// <summary>proto3's string field: null and empty are the default, not written.</summary>
        internal void String(int field, string value)
        {
            if (!string.IsNullOrEmpty(value)) PresentString(field, value);
        }

        /// <summary>An <c>optional</c> string or a oneof member: written unless null, empty included.</summary>
        internal void PresentString(int field, string value)
        {
            if (value == null) return;
            int length = Utf8.GetByteCount(value);
            Tag(field, LengthDelimitedType);
            Varint((ulong)length);
            if (buffer != null) Utf8.GetBytes(value, 0, value.Length, buffer, position);
            position += length;
        }

        /// <summary>proto3's bytes field: null and empty are the default, not written.</summary>
        internal void Bytes(int field, byte[] value)
        {
            if (value != null) Bytes(field, new ArraySegment<byte>(value));
        }

        /// <summary>A bytes field from a slice of an array, copied straight into the request.</summary>
        internal void Bytes(int field, ArraySegment<byte> value)
        {
            if (value.Array == null || value.Count == 0) return;
            Tag(field, LengthDelimitedType);
            Varint((ulong)value.Count);
            if (buffer != null) Buffer.BlockCopy(value.Array, value.Offset, buffer, position, value.Count);
            position += value.Count;
        }

        /// <summary>A message field (one element of a repeated one): its length, then what <paramref name="write"/> writes.</summary>
        internal void Message(int field, Action<ProtoWriter> write)
        {
            Tag(field, LengthDelimitedType);
            Varint((ulong)Measure(write));
            write(this);
        }

        /// <summary>A <c>map&lt;string, string&gt;</c>: one entry message (key = 1, value = 2) per pair.</summary>
        internal void Map(int field, IEnumerable<KeyValuePair<string, string>> map)
        {
            if (map == null) return;
            foreach (var pair in map)
            {
                Message(field, entry =>
                {
                    entry.String(1, pair.Key);
                    entry.String(2, pair.Value);
                });
            }
        }

        private void Tag(int field, int wireType)
        {
            Varint((ulong)(((uint)field << 3) | (uint)wireType));
        }

        private void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                Byte((byte)(value | 0x80));
                value >>= 7;
            }
            Byte((byte)value);
        }

        private void Byte(byte value)
        {
            if (buffer != null) buffer[position] = value;
            position++;
        }
    }
}
