impl :: bincode :: Encode for IssuedCode
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.code_hash, encoder) ?; :: bincode
        :: Encode :: encode(&self.sealed, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}