Console.WriteLine("qst");
