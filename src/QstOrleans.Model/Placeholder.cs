namespace QstOrleans.Model;
