using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Hosting;

/// <summary>Adds QstOrleans to a silo: device slots published as silo metadata, slot placement, message limits.</summary>
public static class SiloBuilderExtensions
{
    public static ISiloBuilder AddQst(this ISiloBuilder builder, QstSiloOptions options)
    {
        var slots = options.Slots.Select(s => new DeviceSlot($"{options.SiloName}/{s.Device}", options.SiloName, s.Device, s.MemoryGiB)).ToList();
        if (slots.Select(s => s.Id).Distinct().Count() != slots.Count)
            throw new ArgumentException($"silo '{options.SiloName}' declares the same device slot twice: {string.Join(", ", slots.Select(s => s.Device))}");
        builder.UseSiloMetadata(SlotMetadata.Encode(options.SiloName, slots));
        builder.AddPlacementDirector<DeviceSlotPlacement, DeviceSlotPlacementDirector>();
        builder.Services.AddSingleton(options);
        builder.Configure<SiloMessagingOptions>(m => m.MaxMessageBodySize = options.MaxMessageBodyBytes);
        return builder;
    }
}
