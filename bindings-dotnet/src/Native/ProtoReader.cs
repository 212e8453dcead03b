// A protobuf decoder for what the native side sends encoded (native/proto/dapr_rs_bridge.proto's
// DeliveredBatch): fields in order, each read by its wire type; fields it does not know are
// skipped, as protobuf readers do, so the native side may add some.
using System;
using System.Text;

namespace DaprRs.Native
{
    internal sealed class ProtoReader
    {
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        private readonly byte[] buffer;
        private readonly int end;
        private int position;
        private int wireType;

        internal ProtoReader(byte[] buffer) : this(buffer, 0, buffer.Length) { }

        private ProtoReader(byte[] buffer, int offset, int end)
        {
            this.buffer = buffer;
            position = offset;
            this.end = end;
        }

        /// <summary>The next field's number, or 0 at the end of the message.</summary>
        internal int NextField()
        {
            if (position >= end) return 0;
            var tag = Varint();
            wireType = (int)(tag & 7);
            var field = (int)(tag >> 3);
            if (field == 0) throw Malformed("field number 0");
            return field;
        }

        /// <summary>The current field as an int32 (or enum).</summary>
        internal int Int32()
        {
            Expect(0);
            return (int)Varint();
        }

        internal string String()
        {
            var length = Length();
            var text = Utf8.GetString(buffer, position, length);
            position += length;
            return text;
        }

        internal byte[] Bytes()
        {
            var length = Length();
            var bytes = new byte[length];
            Buffer.BlockCopy(buffer, position, bytes, 0, length);
            position += length;
            return bytes;
        }

        /// <summary>The current field as an embedded message, read by a reader of its own.</summary>
        internal ProtoReader Message()
        {
            var length = Length();
            var message = new ProtoReader(buffer, position, position + length);
            position += length;
            return message;
        }

        /// <summary>Passes over the current field (one this reader's caller does not know).</summary>
        internal void Skip()
        {
            switch (wireType)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Advance(Length()); break;
                case 5: Advance(4); break;
                default: throw Malformed("wire type " + wireType);
            }
        }

        private int Length()
        {
            Expect(2);
            var length = Varint();
            if (length > (ulong)(end - position)) throw Malformed("a length past the end");
            return (int)length;
        }

        private void Advance(int count)
        {
            if (count > end - position) throw Malformed("a field past the end");
            position += count;
        }

        private void Expect(int type)
        {
            if (wireType != type) throw Malformed("wire type " + wireType + " where " + type + " was expected");
        }

        private ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (position >= end) throw Malformed("a varint past the end");
                var b = buffer[position++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
            throw Malformed("a varint longer than ten bytes");
        }

        private static FormatException Malformed(string what)
        {
            return new FormatException("malformed message from the native library: " + what);
        }
    }
}
