using Orleans.Storage;

namespace QstOrleans.Grains.Persistence;

/// <summary>
/// Options of one named <see cref="BlobGrainStorage"/>. The serializer defaults (through Orleans'
/// <see cref="DefaultStorageProviderSerializerOptionsConfigurator{TOptions}"/>) to the silo's configured
/// <see cref="IGrainStorageSerializer"/>, as for Orleans' own providers.
/// </summary>
public sealed class BlobGrainStorageOptions : IStorageProviderSerializerOptions
{
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;
}
