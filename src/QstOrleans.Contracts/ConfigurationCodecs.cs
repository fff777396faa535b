using QstOrleans.Configuration;

// TrainingConfig lives in QstOrleans.Configuration, which carries only the Orleans attributes; its codecs are
// generated here, where JobSpec (its wire envelope) is.
[assembly: GenerateCodeForDeclaringAssembly(typeof(TrainingConfig))]
