impl :: bincode :: Encode for StateProof
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.leaf, encoder) ?; :: bincode ::
        Encode :: encode(&self.siblings, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}