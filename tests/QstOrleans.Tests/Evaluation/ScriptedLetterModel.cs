using QstOrleans.Model.Baselines;
using QstOrleans.Model.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// A stand-in model scripted per prompt: at the last real position (from the attention mask) of a row whose ids
/// are a known prompt, the four letter tokens get the scripted logits; every other position (earlier tokens and
/// padding) strongly favours <see cref="DecoyLetter"/>, so an evaluator reading the wrong position is caught.
/// </summary>
internal sealed class ScriptedLetterModel(int vocab, long[] letterIds, IReadOnlyDictionary<string, float[]> script) : ITrainableModel
{
    public const int DecoyLetter = 1;

    public TrainingMethod Method => TrainingMethod.Full;
    public Device Device => CPU;
    public IReadOnlyList<Parameter> TrainableParameters { get; } = [];

    public static string Key(IEnumerable<long> ids) => string.Join(",", ids);

    public Tensor Logits(Tensor inputIds, Tensor attentionMask)
    {
        long b = inputIds.shape[0], t = inputIds.shape[1];
        var ids = inputIds.data<long>().ToArray();
        var mask = attentionMask.data<long>().ToArray();
        var logits = new float[b * t * vocab];
        for (long r = 0; r < b; r++)
        {
            long length = mask.Skip((int)(r * t)).Take((int)t).Sum();
            var letters = script[Key(ids.Skip((int)(r * t)).Take((int)length))];
            for (long p = 0; p < t; p++)
                for (int c = 0; c < 4; c++)
                    logits[(r * t + p) * vocab + letterIds[c]] = p == length - 1 ? letters[c] : c == DecoyLetter ? 100f : -100f;
        }
        return tensor(logits, [b, t, vocab]);
    }

    public void Dispose() { }
}
