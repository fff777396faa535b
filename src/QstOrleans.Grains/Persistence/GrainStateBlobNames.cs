using System.Security.Cryptography;
using System.Text;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Grains.Persistence;

/// <summary>
/// Where <see cref="BlobGrainStorage"/> keeps one grain's state: <c>state/{serviceId}/{stateName}/{grainType}/{grainKey}</c>,
/// each segment escaped so any string becomes a valid blob-name segment (<see cref="BlobNames.Validate"/>).
/// </summary>
/// <remarks>
/// Escaping is injective, so two grains never share a blob: letters, digits, '-' and non-leading '.' stay; every
/// other UTF-8 byte (and '_' itself, and a leading '.') becomes <c>_xx</c> (two lower-case hex digits). The empty
/// string becomes a lone <c>_</c>, which no escaped string can be. A segment longer than
/// <see cref="MaxSegmentLength"/> is cut and suffixed with <c>_h</c> + the SHA-256 of the original ('h' is not a hex
/// digit, so this cannot collide with an escape either).
/// </remarks>
public static class GrainStateBlobNames
{
    public const string Root = "state";
    /// <summary>Long keys are hashed so a name stays far below the 1024-character limit of blob names.</summary>
    public const int MaxSegmentLength = 160;

    public static string For(string serviceId, string stateName, string grainType, string grainKey) =>
        BlobNames.Validate($"{Root}/{Escape(serviceId)}/{Escape(stateName)}/{Escape(grainType)}/{Escape(grainKey)}");

    public static string Escape(string segment)
    {
        if (segment.Length == 0) return "_";
        var escaped = new StringBuilder(segment.Length);
        var bytes = Encoding.UTF8.GetBytes(segment);
        for (int i = 0; i < bytes.Length; i++)
        {
            byte b = bytes[i];
            bool keep = b < 0x80 && (char.IsAsciiLetterOrDigit((char)b) || b == '-' || (b == '.' && i > 0));
            if (keep) escaped.Append((char)b);
            else escaped.Append('_').Append(b.ToString("x2"));
        }
        if (escaped.Length <= MaxSegmentLength) return escaped.ToString();
        string hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return $"{escaped.ToString(0, MaxSegmentLength - 2 - hash.Length)}_h{hash}";
    }
}
