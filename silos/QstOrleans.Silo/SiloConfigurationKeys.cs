using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace QstOrleans.Silo;

/// <summary>
/// Refuses keys under <c>Qst</c> that no option reads (<c>Qst:SiloPrt</c>, <c>Qst__Htp__Port</c>): the configuration
/// binder ignores them, so a typo would silently leave the default in place. The known keys are the settable public
/// properties of the option types, walked recursively (nested records, lists by index).
/// </summary>
public static class SiloConfigurationKeys
{
    /// <exception cref="ArgumentException">Names the unknown key (its full path) and the keys valid at that level.</exception>
    public static void CheckKnown(IConfigurationSection section, params Type[] optionTypes) => Check(section, optionTypes);

    static void Check(IConfigurationSection section, IReadOnlyList<Type> types)
    {
        foreach (var child in section.GetChildren())
        {
            var property = types.Select(t => t.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase))
                .FirstOrDefault(Settable);
            if (property is null)
            {
                var known = types.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)).Where(Settable)
                    .Select(p => p.Name).Distinct().Order(StringComparer.Ordinal);
                throw new ArgumentException($"{child.Path}: unknown key (keys under {section.Path}: {string.Join(", ", known)})");
            }
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (IsScalar(type)) continue;
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                var item = type.GetGenericArguments()[0];
                foreach (var element in child.GetChildren())
                {
                    if (!int.TryParse(element.Key, out _)) throw new ArgumentException($"{element.Path}: unknown key ({child.Path} is a list: use {child.Path}:0, :1, …)");
                    if (!IsScalar(item)) Check(element, [item]);
                }
                continue;
            }
            Check(child, [type]);
        }
    }

    static bool Settable(PropertyInfo? property) => property?.SetMethod is { IsPublic: true };

    static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan) || type == typeof(Uri);
}
