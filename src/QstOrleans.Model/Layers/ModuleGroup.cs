using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// A named group of child modules with no behaviour of its own: gives parameters their HF names
/// (<c>self_attn.q_proj.weight</c>, <c>mlp.up_proj.weight</c>). Used instead of TorchSharp's ModuleDict, which
/// <c>Module.to(device)</c> cannot move (its two indexers collide in the reflection that re-points fields:
/// "An item with the same key has already been added. Key: Item") and which <c>modules()</c> lists twice.
/// </summary>
public sealed class ModuleGroup : nn.Module
{
    public ModuleGroup(string name, params (string Name, nn.Module Module)[] children) : base(name)
    {
        foreach (var (childName, module) in children) register_module(childName, module);
    }
}
